package dev.berth.agent.server;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.KubeletKeys;
import dev.berth.cri.v1.ContainerState;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * {@code GET /containerLogs/{namespace}/{pod}/{container}}: a container's log as the kubelet
 * serves it, with its query parameters ({@code follow}, {@code tailLines} or {@code tail},
 * {@code sinceSeconds}, {@code sinceTime}, {@code timestamps}, {@code limitBytes},
 * {@code previous}) and its answers: 400 for a parameter that does not parse, 422 for
 * parameters that break the rules of PodLogOptions, 404 for a pod or container the agent does
 * not run, 400 for a container that has no log (yet).
 *
 * <p>The run read is the newest of that container name in the runtime, or with
 * {@code previous} the one before it (which has ended). Its file is where the runtime's
 * ContainerStatus says ({@code log_path}), else where the agent asked for it (the pod's log
 * directory and {@code <container>/<attempt>.log}); it must resolve, symlinks followed, to a
 * regular file inside the pod logs directory, so a container's symlink cannot make the agent
 * read another file. A followed log ends when the run ends (ContainerStatus, asked at most
 * every {@code stateCheck}) or the client goes.
 */
public final class ContainerLogsEndpoint implements Endpoint {
    private final Supplier<List<Pod>> pods;
    private final Function<String, Optional<PodStatus>> statuses;
    private final CriClient cri;
    private final Path podLogsDir;
    private final CriLogReader reader;
    private final Duration stateCheck;
    private final Clock clock;

    /**
     * @param pods the pods the agent runs
     * @param statuses the newest status the agent built for a pod uid (why a container waits)
     * @param podLogsDir where the agent puts pods' logs: no log is read from elsewhere
     */
    public ContainerLogsEndpoint(Supplier<List<Pod>> pods, Function<String, Optional<PodStatus>> statuses, CriClient cri, Path podLogsDir,
            CriLogReader reader, Duration stateCheck, Clock clock) {
        this.pods = pods;
        this.statuses = statuses;
        this.cri = cri;
        this.podLogsDir = podLogsDir;
        this.reader = reader;
        this.stateCheck = stateCheck;
        this.clock = clock;
    }

    /** The defaults: the file polled every 100 ms when following, the run's state asked every second. */
    public ContainerLogsEndpoint(Supplier<List<Pod>> pods, Function<String, Optional<PodStatus>> statuses, CriClient cri, Path podLogsDir) {
        this(pods, statuses, cri, podLogsDir, new CriLogReader(Duration.ofMillis(100)), Duration.ofSeconds(1), Clock.systemUTC());
    }

    /** A request the kubelet would refuse: its status and message. */
    static final class Refused extends Exception {
        final int status;

        Refused(int status, String message) {
            super(message, null, false, false);
            this.status = status;
        }
    }

    @Override
    public void handle(EndpointRequest request, EndpointResponse response) throws IOException {
        if (!request.method().equals("GET") && !request.method().equals("HEAD")) {
            response.error(405, "Method Not Allowed");
            return;
        }
        Path file;
        CriLogReader.Options options;
        String containerId;
        try {
            List<String> seg = request.segments();
            String namespace = seg.size() > 0 ? seg.get(0) : "";
            String podName = seg.size() > 1 ? seg.get(1) : "";
            String container = seg.size() > 2 ? seg.get(2) : "";
            if (podName.isEmpty()) {
                throw new Refused(400, "{\"message\": \"Missing podID.\"}");
            }
            if (container.isEmpty()) {
                throw new Refused(400, "{\"message\": \"Missing container name.\"}");
            }
            if (namespace.isEmpty()) {
                throw new Refused(400, "{\"message\": \"Missing podNamespace.\"}");
            }
            Params params = params(request);
            options = params.options(clock.instant());
            Pod pod = pods.get().stream()
                    .filter(p -> namespace.equals(p.getMetadata().getNamespace()) && podName.equals(p.getMetadata().getName()))
                    .findFirst().orElseThrow(() -> new Refused(404, "pod \"" + podName + "\" does not exist"));
            if (!hasContainer(pod, container)) {
                throw new Refused(404, "container \"" + container + "\" not found in pod \"" + podName + "\"");
            }
            containerId = run(pod, container, params.previous);
            file = logFile(pod, container, containerId);
        } catch (Refused r) {
            response.error(r.status, r.getMessage());
            return;
        }
        response.start(200, "text/plain");
        if (request.method().equals("HEAD")) {
            response.body().close();
            return;
        }
        try (OutputStream out = response.body()) {
            reader.read(file, options, out, running(containerId), response::clientGone);
        }
    }

    private static boolean hasContainer(Pod pod, String name) {
        var spec = pod.getSpec();
        return Stream.of(spec.getContainers(), spec.getInitContainers()).flatMap(List::stream).map(Container::getName)
                .anyMatch(name::equals)
                || spec.getEphemeralContainers().stream().anyMatch(c -> name.equals(c.getName()));
    }

    /** The id of the run to read: the newest of that container, or the one before it. */
    private String run(Pod pod, String container, boolean previous) throws Refused {
        String podName = pod.getMetadata().getName();
        List<dev.berth.cri.v1.Container> runs;
        try {
            runs = new ArrayList<>(cri.listContainers(Map.of(KubeletKeys.POD_UID, pod.getMetadata().getUid(),
                    KubeletKeys.CONTAINER_NAME, container)));
        } catch (StatusRuntimeException e) {
            throw new Refused(503, "the container runtime does not answer: " + e.getStatus().getCode());
        }
        runs.sort(Comparator.comparingLong(dev.berth.cri.v1.Container::getCreatedAt)
                .thenComparingInt(c -> c.getMetadata().getAttempt()).reversed());
        if (previous) {
            if (runs.size() < 2) {
                throw new Refused(400, "previous terminated container \"" + container + "\" in pod \"" + podName + "\" not found");
            }
            return runs.get(1).getId();
        }
        if (!runs.isEmpty()) {
            return runs.get(0).getId();
        }
        Optional<PodStatus> status = statuses.apply(pod.getMetadata().getUid());
        if (status.isEmpty()) {
            throw new Refused(400, "container \"" + container + "\" in pod \"" + podName + "\" is not available");
        }
        String reason = Stream.of(status.get().getContainerStatuses(), status.get().getInitContainerStatuses(),
                        status.get().getEphemeralContainerStatuses())
                .flatMap(List::stream).filter(s -> container.equals(s.getName())).findFirst()
                .map(ContainerStatus::getState).map(s -> s.getWaiting() == null ? null : s.getWaiting().getReason()).orElse(null);
        if (reason == null || reason.isEmpty()) {
            throw new Refused(400, "container \"" + container + "\" in pod \"" + podName + "\" is waiting to start - no logs yet");
        }
        String why = switch (reason) {
            case "ErrImagePull" -> "image can't be pulled";
            case "ImagePullBackOff" -> "trying and failing to pull image";
            default -> reason;
        };
        throw new Refused(400, "container \"" + container + "\" in pod \"" + podName + "\" is waiting to start: " + why);
    }

    /**
     * The run's log file: where the runtime says, else where the agent asked for it; resolved,
     * symlinks followed, to a regular file under the pod logs directory.
     */
    private Path logFile(Pod pod, String container, String id) throws Refused {
        String where;
        int attempt;
        try {
            dev.berth.cri.v1.ContainerStatus s = cri.containerStatus(id);
            where = s.getLogPath();
            attempt = s.getMetadata().getAttempt();
        } catch (StatusRuntimeException e) {
            throw new Refused(400, "container \"" + container + "\" in pod \"" + pod.getMetadata().getName() + "\" is not available");
        }
        Path path = where.isEmpty()
                ? podLogsDir.resolve(pod.getMetadata().getNamespace() + "_" + pod.getMetadata().getName() + "_" + pod.getMetadata().getUid())
                        .resolve(container).resolve(attempt + ".log")
                : Path.of(where);
        String refusal = "the log of container \"" + container + "\" in pod \"" + pod.getMetadata().getName() + "\"";
        Path real;
        try {
            Path root = podLogsDir.toRealPath();
            real = podLogsDir.resolve(path).toRealPath();
            if (!real.startsWith(root) || real.equals(root)) {
                throw new Refused(400, refusal + " is outside the pod logs directory");
            }
            if (!Files.isRegularFile(real, LinkOption.NOFOLLOW_LINKS)) {
                throw new Refused(400, refusal + " is not a regular file");
            }
        } catch (NoSuchFileException e) {
            throw new Refused(400, refusal + " does not exist (yet)");
        } catch (IOException e) {
            throw new Refused(400, refusal + " cannot be read: " + e.getMessage());
        }
        return real;
    }

    /** Whether the run may still write, asked of the runtime at most every {@code stateCheck}. */
    private BooleanSupplier running(String id) {
        return new BooleanSupplier() {
            long next;
            boolean last = true;

            @Override
            public boolean getAsBoolean() {
                long now = System.nanoTime();
                if (next != 0 && now - next < 0) {
                    return last;
                }
                next = now + stateCheck.toNanos();
                try {
                    ContainerState state = cri.containerStatus(id).getState();
                    last = state == ContainerState.CONTAINER_RUNNING || state == ContainerState.CONTAINER_CREATED;
                } catch (StatusRuntimeException e) {
                    last = false; // gone, or the runtime cannot tell: the follow ends as the kubelet's does
                }
                return last;
            }
        };
    }

    /** The query as PodLogOptions reads it. */
    record Params(Long tailLines, Long sinceSeconds, Instant sinceTime, boolean timestamps, Long limitBytes, boolean follow,
                  boolean previous) {
        CriLogReader.Options options(Instant now) {
            Instant since = sinceTime != null ? sinceTime : sinceSeconds != null ? now.minusSeconds(sinceSeconds) : null;
            return new CriLogReader.Options(tailLines, since, timestamps, limitBytes, follow);
        }
    }

    static Params params(EndpointRequest request) throws Refused {
        Refused undecodable = new Refused(400, "{\"message\": \"Unable to decode query.\"}");
        String tail = request.param("tail");
        String tailLines = request.param("tailLines");
        if (tail != null && !tail.isEmpty()) {
            tailLines = tail.equals("all") ? null : tail;
        }
        Params p;
        try {
            p = new Params(number(tailLines), number(request.param("sinceSeconds")), time(request.param("sinceTime")),
                    bool(request.param("timestamps")), number(request.param("limitBytes")), bool(request.param("follow")),
                    bool(request.param("previous")));
        } catch (NumberFormatException | DateTimeParseException e) {
            throw undecodable;
        }
        boolean invalid = p.tailLines != null && p.tailLines < 0
                || p.limitBytes != null && p.limitBytes < 1
                || p.sinceSeconds != null && p.sinceSeconds < 1
                || p.sinceSeconds != null && p.sinceTime != null;
        if (invalid) {
            throw new Refused(422, "{\"message\": \"Invalid request.\"}");
        }
        return p;
    }

    private static Long number(String s) {
        return s == null || s.isEmpty() ? null : Long.parseLong(s);
    }

    private static Instant time(String s) {
        return s == null || s.isEmpty() ? null : OffsetDateTime.parse(s, DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant();
    }

    /** As the API's query conversion reads a boolean: absent, 0, f, false, n or no (any case) is false, anything else true. */
    private static boolean bool(String s) {
        if (s == null) {
            return false;
        }
        return !(s.equals("0") || s.equalsIgnoreCase("f") || s.equalsIgnoreCase("false") || s.equalsIgnoreCase("n")
                || s.equalsIgnoreCase("no"));
    }
}
