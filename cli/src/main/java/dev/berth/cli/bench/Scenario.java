package dev.berth.cli.bench;

import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerStatsFilter;
import dev.berth.cri.v1.ContainerStatsRequest;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ExecRequest;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.ImageServiceGrpc.ImageServiceBlockingStub;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.LinuxContainerConfig;
import dev.berth.cri.v1.LinuxContainerSecurityContext;
import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxSandboxSecurityContext;
import dev.berth.cri.v1.ListContainerStatsRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxFilter;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.PortForwardRequest;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemoveImageRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.RuntimeServiceGrpc.RuntimeServiceBlockingStub;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StatusRequest;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.cri.v1.VersionRequest;
import dev.berth.cri.v1.VersionResponse;
import io.grpc.ConnectivityState;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The bench's scenario against one CRI endpoint: image pulls and status, pods one after another
 * (every call of a pod's life timed), Exec and stats on one pod, then many pods started and
 * removed by concurrent clients, with the runtime's memory measured idle, at 20 pods, at all
 * pods and idle again after they were removed. Everything it creates carries the label
 * {@value #LABEL}{@code =<run id>} and is removed at the end, also when a step failed.
 */
final class Scenario implements AutoCloseable {
    /** The label on every pod and container the bench creates; its value is the run id. */
    static final String LABEL = "berth-bench";
    /** Where the concurrent phase measures memory on its way to all pods. */
    static final int FIRST_MEMORY_POINT = 20;

    /** What the command line chose. */
    record Options(String runId, String image, int iterations, int pods, int concurrency, NamespaceMode pidMode,
                   long stopTimeoutSeconds, long callTimeoutSeconds, long settleSeconds, List<String> helpers, Long daemonPid,
                   long forwardBytes, int warmupRounds, int warmupPods) {
    }

    /** The calls whose first answer after the bench connects is reported on its own, in this order (a kubelet asks Version first). */
    static final List<String> FIRST_CALLS = List.of("connect", "Version", "Status", "ListPodSandbox", "ListContainers", "ListImages", "ImageStatus");
    /** Exec, ExecSync and port-forward rounds of the warm-up pod. */
    static final int WARMUP_STREAM_ROUNDS = 5;
    /** Bytes of each warm-up port-forward round. */
    static final long WARMUP_FORWARD_BYTES = 256 << 10;
    /** The warm-up's read-only rounds on a runtime stop after this long, whatever --warmup asked. */
    static final long WARMUP_LIMIT_SECONDS = 15;

    /** The port the streaming pod's echo server listens on. */
    static final int ECHO_PORT = 7777;
    /** The row of the port-forward rounds. */
    static final String FORWARD_STREAM = "PortForward stream (MB/s)";

    private final String label;
    private final String endpoint;
    private final Options o;
    private final Progress progress;
    private final ManagedChannel channel;
    private final Recorder rec = new Recorder();
    private final Recorder first = new Recorder();
    private final Set<String> ids = ConcurrentHashMap.newKeySet();
    private final List<String> notes = Collections.synchronizedList(new ArrayList<>());
    private final ProcFs proc = ProcFs.host();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final AtomicInteger podSeq = new AtomicInteger();
    private volatile boolean stopping;
    private final java.util.concurrent.CountDownLatch finished = new java.util.concurrent.CountDownLatch(1);
    private Path logRoot;
    private String imageRef;

    Scenario(String label, String endpoint, Options options, Progress progress) {
        this.label = label;
        this.endpoint = endpoint;
        this.o = options;
        this.progress = progress;
        this.channel = channel(endpoint);
    }

    /** A channel to a {@code unix:///path} endpoint. */
    static ManagedChannel channel(String endpoint) {
        return dev.berth.cli.client.CriSession.channel(endpoint);
    }

    /** Stops starting new work; {@link #run} cleans up and returns soon after. */
    void stop() {
        stopping = true;
    }

    /** Waits until {@link #run} has returned (its own cleanup done) or {@code seconds} passed. */
    boolean awaitFinished(long seconds) throws InterruptedException {
        return finished.await(seconds, TimeUnit.SECONDS);
    }

    long totalSteps() {
        return 3L * o.iterations() + o.iterations() + 2L * o.pods();
    }

    private RuntimeServiceGrpc.RuntimeServiceBlockingStub rt() {
        return RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(o.callTimeoutSeconds(), TimeUnit.SECONDS);
    }

    private ImageServiceGrpc.ImageServiceBlockingStub img() {
        return ImageServiceGrpc.newBlockingStub(channel).withDeadlineAfter(o.callTimeoutSeconds(), TimeUnit.SECONDS);
    }

    Results.Run run() throws IOException {
        try {
            return runScenario();
        } finally {
            finished.countDown();
        }
    }

    private Results.Run runScenario() throws IOException {
        long t0 = System.nanoTime();
        String loadStart = proc.loadAverage();
        progress.start(label, totalSteps());
        MemoryProbe memory = memoryProbe();
        List<Results.MemoryPoint> points = new ArrayList<>();
        Results.Load load = null;
        if (memory != null) {
            // before this bench sent the runtime anything
            points.add(memory.measure("idle", 0, ids));
        }
        logRoot = Files.createTempDirectory("berth-bench-" + o.runId() + "-");
        double warmupSeconds = 0;
        VersionResponse version;
        try {
            if (o.warmupRounds() > 0) {
                progress.phase("warming the bench's client on a fake runtime");
                Warmup.againstFake(o.warmupRounds(), fakeRunRequest(), createRequest("0".repeat(64), fakeRunRequest().getConfig()),
                        o.callTimeoutSeconds());
            } else {
                notes.add("no warm-up (--warmup 0): the first calls and the first samples include the bench's own class loading and JIT");
            }
            progress.phase("first calls");
            version = firstCalls();
        } catch (RuntimeException | IOException e) {
            deleteTree(logRoot);
            throw e;
        }
        try {
            long w0 = System.nanoTime();
            warmUp();
            warmupSeconds = (System.nanoTime() - w0) / 1e9;
            // the garbage of the warm-up (and of an earlier run) is not collected inside a measured call
            System.gc();
            images();
            if (imageRef != null) {
                sequentialPods();
                streaming();
                load = load(memory, points);
            }
        } catch (Recorder.CallFailed e) {
            notes.add("stopped early: " + e.getMessage());
        } finally {
            cleanup();
            deleteTree(logRoot);
        }
        if (memory != null && !stopping) {
            progress.phase("idle after churn (" + o.settleSeconds() + " s)");
            sleep(o.settleSeconds() * 1000);
            points.add(memory.measure("idle after churn", 0, ids));
        }
        progress.finish();
        return new Results.Run(label, endpoint, version.getRuntimeName(), version.getRuntimeVersion(),
                memory == null ? -1 : memory.daemonPid(), loadStart, proc.loadAverage(), (System.nanoTime() - t0) / 1e9, warmupSeconds,
                first.summary(), rec.summary(), rec.throughput(), load, points, List.copyOf(notes));
    }

    private MemoryProbe memoryProbe() {
        Long pid = o.daemonPid();
        if (pid == null) {
            try {
                Optional<Long> owner = proc.socketOwner(Path.of(endpoint.substring("unix://".length())));
                pid = owner.orElse(null);
            } catch (IOException e) {
                pid = null;
            }
        }
        if (pid == null) {
            notes.add("the process serving " + endpoint + " was not found (not root? another network namespace?): no memory figures;"
                    + " pass --daemon-pid");
            return null;
        }
        return new MemoryProbe(proc, pid, o.helpers());
    }

    /**
     * The first call of each of {@link #FIRST_CALLS} on the runtime, one sample each: the
     * connection first (the UNIX socket and HTTP/2's handshake, timed as "connect"), then the
     * calls, each once. The client is warm by now (on the fake), so these are the runtime's
     * figures; on a freshly started daemon they are what a node sees after every restart.
     * Version failing stops the run (nothing answers); the others are noted.
     */
    private VersionResponse firstCalls() {
        long t0 = System.nanoTime();
        if (connect(o.callTimeoutSeconds())) {
            first.add("connect", (System.nanoTime() - t0) / 1e6);
        }
        VersionResponse v = first.call("Version", rt(), VersionRequest.getDefaultInstance(), RuntimeServiceBlockingStub::version);
        try {
            first.call("Status", rt(), StatusRequest.getDefaultInstance(), RuntimeServiceBlockingStub::status);
            first.call("ListPodSandbox", rt(), ListPodSandboxRequest.getDefaultInstance(), RuntimeServiceBlockingStub::listPodSandbox);
            first.call("ListContainers", rt(), ListContainersRequest.getDefaultInstance(), RuntimeServiceBlockingStub::listContainers);
            first.call("ListImages", img(), ListImagesRequest.getDefaultInstance(), ImageServiceBlockingStub::listImages);
            first.call("ImageStatus", img(), imageStatusRequest(), ImageServiceBlockingStub::imageStatus);
        } catch (Recorder.CallFailed e) {
            note(e);
        }
        return v;
    }

    /** Connects the channel and waits until it is ready; false when it could not (the first call then says why). */
    private boolean connect(long timeoutSeconds) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
        ConnectivityState state = channel.getState(true);
        try {
            while (state != ConnectivityState.READY) {
                if (state == ConnectivityState.TRANSIENT_FAILURE || state == ConnectivityState.SHUTDOWN) {
                    return false;
                }
                java.util.concurrent.CountDownLatch changed = new java.util.concurrent.CountDownLatch(1);
                channel.notifyWhenStateChanged(state, changed::countDown);
                if (!changed.await(Math.max(deadline - System.nanoTime(), 0), TimeUnit.NANOSECONDS)) {
                    return false;
                }
                state = channel.getState(true);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
        return true;
    }

    private ImageStatusRequest imageStatusRequest() {
        return ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(o.image())).build();
    }

    /**
     * The unmeasured warm-up on the runtime, so that the measured calls find the bench's
     * client (and the runtime, each alike) warm: the image (pulled untimed if it is not there),
     * one pod with a sleeping container and an echo server, {@code --warmup} rounds of the
     * read-only calls on it (at most {@value #WARMUP_LIMIT_SECONDS} s), a few Exec (RPC and
     * WebSocket), ExecSync and small port-forward rounds, then {@code --warmup-pods} pod
     * lifecycles. A failure ends the warm-up with a note; the measured scenario runs anyway.
     */
    private void warmUp() {
        if (o.warmupRounds() <= 0) {
            return;
        }
        progress.phase("warm-up on the runtime (not measured)");
        ImageStatusRequest status = imageStatusRequest();
        ListContainerStatsRequest stats = ListContainerStatsRequest.newBuilder()
                .setFilter(ContainerStatsFilter.newBuilder().putLabelSelector(LABEL, o.runId())).build();
        String pod = null;
        String ctr = null;
        String echo = null;
        int rounds = 0;
        try {
            imageRef = img().imageStatus(status).hasImage() ? o.image()
                    : pulled(img().pullImage(PullImageRequest.newBuilder().setImage(status.getImage()).build()).getImageRef());
            RunPodSandboxRequest run = runRequest("w");
            String p = pod = rt().runPodSandbox(run).getPodSandboxId();
            ids.add(p);
            String c = ctr = rt().createContainer(createRequest(p, run.getConfig())).getContainerId();
            ids.add(c);
            rt().startContainer(StartContainerRequest.newBuilder().setContainerId(c).build());
            String e = echo = rt().createContainer(createRequest(p, run.getConfig(), "echo",
                    List.of("nc", "-ll", "-p", String.valueOf(ECHO_PORT), "-e", "cat"))).getContainerId();
            ids.add(e);
            rt().startContainer(StartContainerRequest.newBuilder().setContainerId(e).build());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WARMUP_LIMIT_SECONDS);
            for (; rounds < o.warmupRounds() && System.nanoTime() < deadline && !stopping; rounds++) {
                Warmup.readOnlyRound(rt(), img(), status, p, c, stats);
            }
            boolean listening = awaitListening(e, ECHO_PORT);
            for (int i = 0; i < WARMUP_STREAM_ROUNDS && !stopping; i++) {
                succeeded(rt().execSync(execSyncRequest(c)));
                String url = rt().exec(ExecRequest.newBuilder().setContainerId(c).addCmd("true").setStdout(true).setStderr(true).build()).getUrl();
                ExecStream.run(http, url, Duration.ofSeconds(o.callTimeoutSeconds()));
                url = rt().portForward(PortForwardRequest.newBuilder().setPodSandboxId(p).addPort(ECHO_PORT).build()).getUrl();
                if (listening) {
                    PortForwardStream.run(http, url, ECHO_PORT, WARMUP_FORWARD_BYTES, Duration.ofSeconds(o.callTimeoutSeconds()));
                }
            }
            removeQuietly(null, echo);
            echo = null;
            removeQuietly(pod, ctr);
            pod = null;
            ctr = null;
            for (int i = 0; i < o.warmupPods() && !stopping; i++) {
                RunPodSandboxRequest r = runRequest("w" + i);
                String wp = pod = rt().runPodSandbox(r).getPodSandboxId();
                ids.add(wp);
                String wc = ctr = rt().createContainer(createRequest(wp, r.getConfig())).getContainerId();
                ids.add(wc);
                rt().startContainer(StartContainerRequest.newBuilder().setContainerId(wc).build());
                rt().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(wc).build());
                rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(wp).build());
                rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(wc).setTimeout(o.stopTimeoutSeconds()).build());
                rt().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(wc).build());
                ctr = null;
                rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(wp).build());
                rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(wp).build());
                pod = null;
            }
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            Throwable cause = e instanceof java.util.concurrent.ExecutionException && e.getCause() != null ? e.getCause() : e;
            notes.add("warm-up stopped after " + rounds + " read-only rounds: " + Recorder.describe(cause));
        } finally {
            removeQuietly(null, echo);
            removeQuietly(pod, ctr);
            imageRef = null;
        }
    }

    /**
     * Pulls measured cold: once the image could be pulled, it is removed before each further
     * pull (RemoveImage is timed too). An image that cannot be pulled is never removed, so a
     * bench of an image only imported into the runtime still runs its pods.
     */
    private void images() {
        progress.phase("images");
        ImageSpec spec = ImageSpec.newBuilder().setImage(o.image()).build();
        PullImageRequest pull = PullImageRequest.newBuilder().setImage(spec).build();
        RemoveImageRequest remove = RemoveImageRequest.newBuilder().setImage(spec).build();
        ImageStatusRequest status = ImageStatusRequest.newBuilder().setImage(spec).build();
        boolean present = false;
        try {
            present = img().imageStatus(status).hasImage();
        } catch (RuntimeException e) {
            note(new Recorder.CallFailed("ImageStatus", e));
        }
        if (present) {
            imageRef = o.image();
        }
        int cold = 0;
        for (int i = 0; cold < o.iterations() && !stopping; i++) {
            try {
                if (present) {
                    if (i == 0) {
                        // proves the image can be pulled again before removing it
                        imageRef = pulled(rec.call("PullImage (image present)", img(), pull, ImageServiceBlockingStub::pullImage).getImageRef());
                    }
                    rec.call("RemoveImage", img(), remove, ImageServiceBlockingStub::removeImage);
                    present = false;
                    imageRef = null;
                }
                imageRef = pulled(rec.call("PullImage", img(), pull, ImageServiceBlockingStub::pullImage).getImageRef());
                present = true;
                cold++;
            } catch (Recorder.CallFailed e) {
                note(e);
                break;
            }
            progress.step();
        }
        for (int i = 0; i < o.iterations() && !stopping; i++) {
            try {
                rec.call("ImageStatus", img(), status, ImageServiceBlockingStub::imageStatus);
                rec.call("ListImages", img(), ListImagesRequest.getDefaultInstance(), ImageServiceBlockingStub::listImages);
                rec.call("Version", rt(), VersionRequest.getDefaultInstance(), RuntimeServiceBlockingStub::version);
                rec.call("Status", rt(), StatusRequest.getDefaultInstance(), RuntimeServiceBlockingStub::status);
            } catch (Recorder.CallFailed e) {
                note(e);
            }
            progress.step();
        }
        if (imageRef == null) {
            notes.add("the image " + o.image() + " is not there and could not be pulled: no pods were made");
        }
    }

    private void sequentialPods() {
        progress.phase("pods one after another");
        for (int i = 0; i < o.iterations() && !stopping; i++) {
            String pod = null;
            String ctr = null;
            try {
                RunPodSandboxRequest run = runRequest("s" + i);
                String p = pod = rec.call("RunPodSandbox", rt(), run, RuntimeServiceBlockingStub::runPodSandbox).getPodSandboxId();
                ids.add(p);
                String c = ctr = rec.call("CreateContainer", rt(), createRequest(p, run.getConfig()), RuntimeServiceBlockingStub::createContainer)
                        .getContainerId();
                ids.add(c);
                rec.call("StartContainer", rt(), StartContainerRequest.newBuilder().setContainerId(c).build(), RuntimeServiceBlockingStub::startContainer);
                rec.add("create + start", rec.last("CreateContainer") + rec.last("StartContainer"));
                rec.call("ContainerStatus", rt(), ContainerStatusRequest.newBuilder().setContainerId(c).build(), RuntimeServiceBlockingStub::containerStatus);
                rec.call("PodSandboxStatus", rt(), PodSandboxStatusRequest.newBuilder().setPodSandboxId(p).build(),
                        RuntimeServiceBlockingStub::podSandboxStatus);
                rec.call("ListContainers", rt(), ListContainersRequest.getDefaultInstance(), RuntimeServiceBlockingStub::listContainers);
                rec.call("ListPodSandbox", rt(), ListPodSandboxRequest.getDefaultInstance(), RuntimeServiceBlockingStub::listPodSandbox);
                // the exit code is checked inside the timed call (a comparison): a failure is an error, not a sample
                rec.call("ExecSync", rt(), execSyncRequest(c), (s, q) -> succeeded(s.execSync(q)));
                rec.call("StopContainer", rt(), StopContainerRequest.newBuilder().setContainerId(c).setTimeout(o.stopTimeoutSeconds()).build(),
                        RuntimeServiceBlockingStub::stopContainer);
                rec.call("RemoveContainer", rt(), RemoveContainerRequest.newBuilder().setContainerId(c).build(), RuntimeServiceBlockingStub::removeContainer);
                ctr = null;
                rec.call("StopPodSandbox", rt(), StopPodSandboxRequest.newBuilder().setPodSandboxId(p).build(), RuntimeServiceBlockingStub::stopPodSandbox);
                rec.call("RemovePodSandbox", rt(), RemovePodSandboxRequest.newBuilder().setPodSandboxId(p).build(),
                        RuntimeServiceBlockingStub::removePodSandbox);
                pod = null;
                double sum = 0;
                for (String call : List.of("RunPodSandbox", "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer",
                        "StopPodSandbox", "RemovePodSandbox")) {
                    sum += rec.last(call);
                }
                rec.add("pod lifecycle (sum)", sum);
            } catch (Recorder.CallFailed e) {
                note(e);
            } finally {
                removeQuietly(pod, ctr);
            }
            progress.step();
        }
    }

    private String pulled(String ref) {
        return ref.isEmpty() ? o.image() : ref;
    }

    private ExecSyncRequest execSyncRequest(String ctr) {
        return ExecSyncRequest.newBuilder().setContainerId(ctr).addCmd("true").setTimeout(o.callTimeoutSeconds()).build();
    }

    /** ExecSync of {@code true} must exit 0: a runtime that answered without running it would measure fast. */
    private static ExecSyncResponse succeeded(ExecSyncResponse r) {
        if (r.getExitCode() != 0) {
            throw new IllegalStateException("true exited with " + r.getExitCode() + ": " + r.getStderr().toStringUtf8());
        }
        return r;
    }

    /**
     * Exec (the RPC, then the command run through its URL over a WebSocket), stats and
     * port-forward on one pod: a second container echoes what comes to {@value #ECHO_PORT}
     * (busybox {@code nc -ll -e cat}), and each round pushes {@code forwardBytes} through the
     * PortForward URL and checks they all came back.
     */
    private void streaming() {
        progress.phase("exec, stats and port-forward");
        String pod = null;
        String ctr = null;
        String echo = null;
        try {
            RunPodSandboxRequest run = runRequest("x");
            String p = pod = rt().runPodSandbox(run).getPodSandboxId();
            ids.add(p);
            String c = ctr = rt().createContainer(createRequest(p, run.getConfig(), "sleep", List.of("sleep", "3600"))).getContainerId();
            ids.add(c);
            rt().startContainer(StartContainerRequest.newBuilder().setContainerId(c).build());
            boolean listening = false;
            try {
                String e = echo = rt().createContainer(createRequest(p, run.getConfig(), "echo",
                        List.of("nc", "-ll", "-p", String.valueOf(ECHO_PORT), "-e", "cat"))).getContainerId();
                ids.add(e);
                rt().startContainer(StartContainerRequest.newBuilder().setContainerId(e).build());
                listening = awaitListening(e, ECHO_PORT);
                if (!listening) {
                    rec.rateError(FORWARD_STREAM, o.forwardBytes(), new IllegalStateException(
                            "nothing listens on port " + ECHO_PORT + " in the pod (does the image have busybox nc with -e?)"));
                }
            } catch (RuntimeException e) {
                rec.rateError(FORWARD_STREAM, o.forwardBytes(), e);
            }
            for (int i = 0; i < o.iterations() && !stopping; i++) {
                try {
                    String url = rec.call("Exec", rt(), ExecRequest.newBuilder().setContainerId(c).addCmd("true").setStdout(true).setStderr(true).build(),
                            RuntimeServiceBlockingStub::exec).getUrl();
                    rec.time("Exec stream (WebSocket)", () -> {
                        try {
                            return ExecStream.run(http, url, Duration.ofSeconds(o.callTimeoutSeconds()));
                        } catch (RuntimeException e) {
                            throw e;
                        } catch (Exception e) {
                            throw new IllegalStateException(e.toString(), e);
                        }
                    });
                } catch (Recorder.CallFailed e) {
                    note(e);
                }
                try {
                    rec.call("ContainerStats", rt(), ContainerStatsRequest.newBuilder().setContainerId(c).build(), RuntimeServiceBlockingStub::containerStats);
                    rec.call("ListContainerStats", rt(), ListContainerStatsRequest.newBuilder()
                            .setFilter(ContainerStatsFilter.newBuilder().putLabelSelector(LABEL, o.runId())).build(),
                            RuntimeServiceBlockingStub::listContainerStats);
                } catch (Recorder.CallFailed e) {
                    note(e);
                }
                try {
                    String url = rec.call("PortForward", rt(), PortForwardRequest.newBuilder().setPodSandboxId(p).addPort(ECHO_PORT).build(),
                            RuntimeServiceBlockingStub::portForward).getUrl();
                    if (listening) {
                        forward(url);
                    }
                } catch (Recorder.CallFailed e) {
                    note(e);
                }
                progress.step();
            }
        } catch (Recorder.CallFailed e) {
            note(e);
        } catch (RuntimeException e) {
            note(new Recorder.CallFailed("streaming pod", e));
        } finally {
            removeQuietly(null, echo);
            removeQuietly(pod, ctr);
        }
    }

    /** One port-forward round: its throughput, and the time to the first echoed byte as a call. */
    private void forward(String url) {
        try {
            PortForwardStream.Result r = PortForwardStream.run(http, url, ECHO_PORT, o.forwardBytes(), Duration.ofSeconds(o.callTimeoutSeconds()));
            rec.rate(FORWARD_STREAM, r.megabytesPerSecond(), r.bytes());
            rec.add("PortForward first byte", r.firstByteMs());
        } catch (Exception e) {
            Throwable cause = e instanceof java.util.concurrent.ExecutionException && e.getCause() != null ? e.getCause() : e;
            rec.rateError(FORWARD_STREAM, o.forwardBytes(), cause);
            note(new Recorder.CallFailed(FORWARD_STREAM, cause));
        }
    }

    /** Waits up to 10 s until a socket listens on {@code port} in the pod's network namespace (read from /proc/net/tcp and tcp6 in the container). */
    private boolean awaitListening(String ctr, int port) {
        String local = String.format(":%04X ", port);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        do {
            // exits 1 where IPv6 is off (no tcp6), after printing tcp
            String table = rt().execSync(ExecSyncRequest.newBuilder().setContainerId(ctr).addAllCmd(List.of("cat", "/proc/net/tcp", "/proc/net/tcp6"))
                    .setTimeout(o.callTimeoutSeconds()).build()).getStdout().toStringUtf8();
            if (listens(table, local)) {
                return true;
            }
            sleep(50);
        } while (System.nanoTime() < deadline && !stopping);
        return false;
    }

    /** Whether a /proc/net/tcp table has a socket in state LISTEN (0A) whose local address ends in {@code local} (":1E61 "). */
    static boolean listens(String table, String local) {
        for (String line : table.split("\n")) {
            String[] f = line.trim().split("\s+");
            if (f.length > 3 && (f[1] + " ").endsWith(local) && f[3].equals("0A")) {
                return true;
            }
        }
        return false;
    }

    private record Started(String pod, String ctr) {
    }

    /**
     * {@code pods} pods of one container started by {@code concurrency} clients; memory is
     * measured once {@value #FIRST_MEMORY_POINT} run (the clients wait meanwhile; that pause
     * is not part of the wall time) and once all run; then they are removed by as many clients.
     */
    private Results.Load load(MemoryProbe memory, List<Results.MemoryPoint> points) {
        progress.phase("starting " + o.pods() + " pods, " + o.concurrency() + " at a time");
        List<Started> started = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger errors = new AtomicInteger();
        AtomicInteger running = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(o.concurrency());
        long daemonPid = memory == null ? -1 : memory.daemonPid();
        try {
            long cpu0 = daemonPid > 0 ? proc.cpuTicks(daemonPid) : -1;
            int first = o.pods() > FIRST_MEMORY_POINT ? FIRST_MEMORY_POINT : o.pods();
            AtomicInteger next = new AtomicInteger();
            double wall = ramp(pool, next, first, started, running, errors);
            if (memory != null && first < o.pods()) {
                points.add(memory.measure("at " + FIRST_MEMORY_POINT + " pods", running.get(), ids));
            }
            wall += ramp(pool, next, o.pods(), started, running, errors);
            long cpu1 = daemonPid > 0 ? proc.cpuTicks(daemonPid) : -1;
            int up = running.get();
            if (memory != null) {
                points.add(memory.measure("at " + o.pods() + " pods", up, ids));
            }
            progress.phase("removing " + started.size() + " pods, " + o.concurrency() + " at a time");
            List<Started> toRemove = new ArrayList<>(started);
            AtomicInteger cursor = new AtomicInteger();
            long r0 = System.nanoTime();
            List<java.util.concurrent.Future<?>> done = new ArrayList<>();
            for (int w = 0; w < o.concurrency(); w++) {
                done.add(pool.submit(() -> {
                    for (int i; (i = cursor.getAndIncrement()) < toRemove.size(); ) {
                        Started s = toRemove.get(i);
                        try {
                            removePod(s.pod(), s.ctr(), " (load)");
                            started.remove(s);
                        } catch (Recorder.CallFailed e) {
                            errors.incrementAndGet();
                            note(e);
                        }
                        progress.step();
                    }
                }));
            }
            await(done);
            double removeWall = (System.nanoTime() - r0) / 1e9;
            double cpuPerPod = cpu0 >= 0 && cpu1 >= 0 && up > 0 ? (cpu1 - cpu0) / (double) clockTicks() / up : Double.NaN;
            return new Results.Load(o.pods(), o.concurrency(), up, wall, up / wall, removeWall,
                    toRemove.size() / removeWall, errors.get(), cpuPerPod);
        } finally {
            pool.shutdownNow();
            for (Started s : List.copyOf(started)) {
                removeQuietly(s.pod(), s.ctr());
            }
        }
    }

    private double ramp(ExecutorService pool, AtomicInteger next, int upTo, List<Started> started, AtomicInteger running,
                        AtomicInteger errors) {
        long t0 = System.nanoTime();
        List<java.util.concurrent.Future<?>> done = new ArrayList<>();
        for (int w = 0; w < o.concurrency(); w++) {
            done.add(pool.submit(() -> {
                while (!stopping) {
                    int i = next.getAndUpdate(n -> n < upTo ? n + 1 : n);
                    if (i >= upTo) {
                        return;
                    }
                    String pod = null;
                    try {
                        RunPodSandboxRequest run = runRequest("l" + i);
                        String p = pod = rec.call("RunPodSandbox (load)", rt(), run, RuntimeServiceBlockingStub::runPodSandbox).getPodSandboxId();
                        ids.add(p);
                        String c = rec.call("CreateContainer (load)", rt(), createRequest(p, run.getConfig()), RuntimeServiceBlockingStub::createContainer)
                                .getContainerId();
                        ids.add(c);
                        started.add(new Started(p, c));
                        pod = null;
                        rec.call("StartContainer (load)", rt(), StartContainerRequest.newBuilder().setContainerId(c).build(),
                                RuntimeServiceBlockingStub::startContainer);
                        running.incrementAndGet();
                    } catch (Recorder.CallFailed e) {
                        errors.incrementAndGet();
                        note(e);
                    } finally {
                        removeQuietly(pod, null);
                    }
                    progress.step();
                }
            }));
        }
        await(done);
        return (System.nanoTime() - t0) / 1e9;
    }

    private static void await(List<java.util.concurrent.Future<?>> futures) {
        for (java.util.concurrent.Future<?> f : futures) {
            try {
                f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (java.util.concurrent.ExecutionException e) {
                // counted by the worker
            }
        }
    }

    /** What a kubelet does to a pod it deletes: stop and remove its container, then stop and remove the sandbox. */
    private void removePod(String pod, String ctr, String suffix) {
        if (ctr != null) {
            rec.call("StopContainer" + suffix, rt(), StopContainerRequest.newBuilder().setContainerId(ctr).setTimeout(o.stopTimeoutSeconds()).build(),
                    RuntimeServiceBlockingStub::stopContainer);
            rec.call("RemoveContainer" + suffix, rt(), RemoveContainerRequest.newBuilder().setContainerId(ctr).build(),
                    RuntimeServiceBlockingStub::removeContainer);
        }
        rec.call("StopPodSandbox" + suffix, rt(), StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build(), RuntimeServiceBlockingStub::stopPodSandbox);
        rec.call("RemovePodSandbox" + suffix, rt(), RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build(),
                RuntimeServiceBlockingStub::removePodSandbox);
    }

    /** Removes a pod (and its container) left by a failed step, untimed; failures are left to the final sweep. */
    private void removeQuietly(String pod, String ctr) {
        try {
            if (ctr != null) {
                rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(ctr).setTimeout(0).build());
                rt().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(ctr).build());
            }
            if (pod != null) {
                rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
                rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
            }
        } catch (RuntimeException e) {
            // the sweep by label at the end tries again
        }
    }

    /** The final sweep: every pod with this run's label, whatever happened before. */
    void cleanup() {
        int left = cleanup(channel, o.runId(), o.callTimeoutSeconds());
        if (left > 0) {
            notes.add(left + " pods with " + LABEL + "=" + o.runId() + " could not be removed");
        }
    }

    /** Stops and removes every pod labelled {@code berth-bench=runId} and its containers; returns how many pods remain. */
    static int cleanup(ManagedChannel channel, String runId, long timeoutSeconds) {
        RuntimeServiceGrpc.RuntimeServiceBlockingStub rt = RuntimeServiceGrpc.newBlockingStub(channel);
        List<PodSandbox> pods;
        try {
            pods = rt.withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS).listPodSandbox(ListPodSandboxRequest.newBuilder()
                    .setFilter(PodSandboxFilter.newBuilder().putLabelSelector(LABEL, runId)).build()).getItemsList();
        } catch (RuntimeException e) {
            return -1;
        }
        int left = 0;
        for (PodSandbox p : pods) {
            try {
                for (dev.berth.cri.v1.Container c : rt.withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS).listContainers(
                        ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder().setPodSandboxId(p.getId())).build()).getContainersList()) {
                    rt.withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS).stopContainer(StopContainerRequest.newBuilder()
                            .setContainerId(c.getId()).setTimeout(0).build());
                    rt.withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS).removeContainer(RemoveContainerRequest.newBuilder()
                            .setContainerId(c.getId()).build());
                }
                rt.withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS).stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                rt.withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS).removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
            } catch (RuntimeException e) {
                left++;
            }
        }
        return left;
    }

    /**
     * A pod as a kubelet asks for one: unique name, uid and namespace, a log directory (made
     * first, as the kubelet does), pod network, IPC of the pod, PID as chosen.
     */
    private RunPodSandboxRequest runRequest(String tag) {
        String name = "bench-" + o.runId() + "-" + tag + "-" + podSeq.getAndIncrement();
        Path logs = logRoot.resolve(name);
        try {
            Files.createDirectories(logs);
        } catch (IOException e) {
            throw new Recorder.CallFailed("log directory", e);
        }
        return runRequest(name, logs);
    }

    /** A request like the measured ones for the fake runtime: nothing is made on the host. */
    private RunPodSandboxRequest fakeRunRequest() {
        return runRequest("bench-" + o.runId() + "-fake", logRoot.resolve("fake"));
    }

    private RunPodSandboxRequest runRequest(String name, Path logs) {
        NamespaceOption ns = NamespaceOption.newBuilder().setNetwork(NamespaceMode.POD).setIpc(NamespaceMode.POD).setPid(o.pidMode()).build();
        PodSandboxConfig config = PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setUid(UUID.randomUUID().toString())
                        .setNamespace("berth-bench-" + o.runId()).setAttempt(0))
                .setHostname(name)
                .setLogDirectory(logs.toString())
                .putLabels(LABEL, o.runId())
                .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(ns)))
                .build();
        return RunPodSandboxRequest.newBuilder().setConfig(config).build();
    }

    private CreateContainerRequest createRequest(String pod, PodSandboxConfig sandbox) {
        return createRequest(pod, sandbox, "sleep", List.of("sleep", "3600"));
    }

    private CreateContainerRequest createRequest(String pod, PodSandboxConfig sandbox, String name, List<String> command) {
        NamespaceOption ns = NamespaceOption.newBuilder().setNetwork(NamespaceMode.POD).setIpc(NamespaceMode.POD).setPid(o.pidMode()).build();
        ContainerConfig config = ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(name).setAttempt(0))
                .setImage(ImageSpec.newBuilder().setImage(imageRef == null ? o.image() : imageRef))
                .addAllCommand(command)
                .setLogPath(name + "/0.log")
                .putLabels(LABEL, o.runId())
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(ns)))
                .build();
        return CreateContainerRequest.newBuilder().setPodSandboxId(pod).setConfig(config).setSandboxConfig(sandbox).build();
    }

    private void note(Recorder.CallFailed e) {
        String m = e.getMessage();
        synchronized (notes) {
            if (notes.size() < 50 && !notes.contains(m)) {
                notes.add(m);
                progress.note(label + ": " + m);
            }
        }
    }

    private static long clockTicks() {
        return 100; // USER_HZ on every Linux architecture the bench runs on
    }

    private void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void deleteTree(Path dir) {
        if (dir == null) {
            return;
        }
        try (var walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    // left in the temporary directory
                }
            });
        } catch (IOException e) {
            // left in the temporary directory
        }
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
