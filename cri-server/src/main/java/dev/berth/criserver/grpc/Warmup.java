package dev.berth.criserver.grpc;

import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListContainersResponse;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.ListImagesResponse;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.ListPodSandboxResponse;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StatusRequest;
import dev.berth.cri.v1.VersionRequest;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Warms the CRI's status and list calls right after start, so that the first real Status,
 * List* or *Status call does not pay for loading classes and running them interpreted (tens to
 * hundreds of ms each on a cold JVM; under a millisecond warm). One background thread calls
 * them a few hundred times through gRPC on a private in-process server of the same
 * {@link CriRegistry}: the real handlers on the real stores, so exactly the code a caller
 * reaches. Only calls that read are made (Status, Version, ListPodSandbox, ListContainers,
 * ListImages, and PodSandboxStatus, ContainerStatus and ImageStatus of the first listed
 * ones), so nothing is written or changed. The private server has a call limit of its own and
 * none of the daemon's metrics, and runs each call on the warming thread: a real call never
 * waits for the warm-up, and the metrics count only real calls.
 */
public final class Warmup implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Warmup.class);
    /** Enough calls for the JIT to compile the hot paths with profiles (its thresholds are a few hundred to a few thousand). */
    public static final int DEFAULT_ROUNDS = 300;
    /**
     * Status runs in every so many rounds only: the first fills what it remembers (each CNI
     * plugin's VERSION), but with a CNI 1.1 network each Status runs every plugin's STATUS.
     */
    static final int STATUS_EVERY = 10;

    private final Server server;
    private final ManagedChannel channel;
    private final Thread thread;
    private volatile boolean stopped;

    private Warmup(Server server, ManagedChannel channel, int rounds, Runnable done) {
        this.server = server;
        this.channel = channel;
        this.thread = new Thread(() -> run(rounds, done), "berth-warmup");
        thread.setDaemon(true);
        thread.setPriority(Thread.MIN_PRIORITY);
    }

    /** Starts warming {@code registry}'s calls {@code rounds} times in the background; {@code done} runs after (also after {@link #close}). */
    public static Warmup start(CriRegistry registry, int rounds, Runnable done) {
        String name = "berth-warmup-" + ProcessHandle.current().pid() + "-" + System.identityHashCode(registry);
        CallLimit limit = new CallLimit(1, 0, Duration.ZERO);
        Server server = InProcessServerBuilder.forName(name).directExecutor()
                .addService(ServerInterceptors.intercept(registry.runtimeService(), limit))
                .addService(ServerInterceptors.intercept(registry.imageService(), limit))
                .build();
        try {
            server.start();
        } catch (IOException e) {
            throw new IllegalStateException("cannot start the warm-up's in-process server " + name, e);
        }
        Warmup w = new Warmup(server, InProcessChannelBuilder.forName(name).directExecutor().build(), rounds, done);
        w.thread.start();
        return w;
    }

    private void run(int rounds, Runnable done) {
        long start = System.nanoTime();
        int round = 0;
        try {
            RuntimeServiceGrpc.RuntimeServiceBlockingStub rt = RuntimeServiceGrpc.newBlockingStub(channel);
            ImageServiceGrpc.ImageServiceBlockingStub img = ImageServiceGrpc.newBlockingStub(channel);
            for (; round < rounds && !stopped; round++) {
                round(rt, img, round % STATUS_EVERY == 0);
            }
            LOG.info("warm-up of the status and list calls done: {} rounds in {} ms", round, (System.nanoTime() - start) / 1_000_000);
        } catch (RuntimeException e) {
            // warming is an optimisation: whatever fails here, a real call reports for itself
            LOG.debug("warm-up ended after {} rounds: {}", round, e.toString());
        } finally {
            close();
            done.run();
        }
    }

    private static void round(RuntimeServiceGrpc.RuntimeServiceBlockingStub rt, ImageServiceGrpc.ImageServiceBlockingStub img,
            boolean status) {
        if (status) {
            quietly(() -> rt.status(StatusRequest.getDefaultInstance()));
        }
        quietly(() -> rt.version(VersionRequest.getDefaultInstance()));
        ListPodSandboxResponse pods = quietly(() -> rt.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()));
        ListContainersResponse containers = quietly(() -> rt.listContainers(ListContainersRequest.getDefaultInstance()));
        ListImagesResponse images = quietly(() -> img.listImages(ListImagesRequest.getDefaultInstance()));
        if (pods != null && pods.getItemsCount() > 0) {
            quietly(() -> rt.podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pods.getItems(0).getId()).build()));
        }
        if (containers != null && containers.getContainersCount() > 0) {
            quietly(() -> rt.containerStatus(ContainerStatusRequest.newBuilder()
                    .setContainerId(containers.getContainers(0).getId()).build()));
        }
        if (images != null && images.getImagesCount() > 0) {
            quietly(() -> img.imageStatus(ImageStatusRequest.newBuilder()
                    .setImage(ImageSpec.newBuilder().setImage(images.getImages(0).getId())).build()));
        }
    }

    /** The call's answer, or null when it failed (e.g. what it asked about was removed meanwhile): the next round tries again. */
    private static <R> R quietly(Supplier<R> call) {
        try {
            return call.get();
        } catch (StatusRuntimeException e) {
            return null;
        }
    }

    /** Whether the warm-up has ended (done, failed or closed). */
    public boolean finished() {
        return !thread.isAlive();
    }

    /** Waits up to {@code timeout} for the warm-up to end; true when it has. */
    public boolean await(Duration timeout) throws InterruptedException {
        thread.join(Math.max(1, timeout.toMillis()));
        return !thread.isAlive();
    }

    /** Stops warming after the call under way. */
    @Override
    public void close() {
        stopped = true;
        channel.shutdownNow();
        server.shutdownNow();
        try {
            server.awaitTermination(1, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
