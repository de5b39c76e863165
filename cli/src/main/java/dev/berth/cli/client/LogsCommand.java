package dev.berth.cli.client;

import dev.berth.agent.server.CriLogReader;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.ContainerStatusRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.concurrent.Callable;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth logs}: a container's log, read from the CRI log file the runtime writes (ContainerStatus log_path). */
@Command(name = "logs", sortOptions = false,
        description = {"Print a container's log: stdout lines to stdout, stderr lines to stderr.",
            "The log is read from the file the runtime reports (ContainerStatus log_path, the CRI log format), so berth logs "
                + "runs on the runtime's host. With -f it follows the file as the container writes it (and across a rotation) "
                + "and ends once the container has exited and its log is read to the end."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth logs web",
            "  berth logs -f --tail 20 web          # the last 20 lines, then follow",
            "  berth logs --since 5m -t web         # the last five minutes, with times",
            "  berth logs --since 2024-05-01T10:00:00Z web",
            "  berth logs -p web                    # the previous attempt's log"})
final class LogsCommand implements Callable<Integer> {
    /** How long -f waits for more of the file before looking again. */
    private static final long POLL_MS = 100;
    /** How often -f asks the runtime whether the container still runs while the file does not grow. */
    private static final long STATE_EVERY_MS = 500;

    @Mixin
    StreamOptions options;

    @Spec
    CommandSpec spec;

    @Option(names = {"-f", "--follow"}, description = "follow the log until the container exits")
    boolean follow;

    @Option(names = "--tail", paramLabel = "N", defaultValue = "-1", description = "print only the last N lines (default: all)")
    long tail;

    @Option(names = "--since", paramLabel = "TIME|DURATION",
            description = "only lines written since an RFC 3339 time (2024-05-01T10:00:00Z) or for a duration back (42m, 1h30m, 10s)")
    String since;

    @Option(names = {"-t", "--timestamps"}, description = "prefix each line with the time it was written")
    boolean timestamps;

    @Option(names = "--limit-bytes", paramLabel = "BYTES", defaultValue = "-1", description = "print at most this many bytes (default: no limit)")
    long limitBytes;

    @Option(names = {"-p", "--previous"}, description = "the log of the container's previous attempt (same name, attempt - 1, in the same directory)")
    boolean previous;

    @Parameters(index = "0", paramLabel = "CONTAINER", description = "container ID, unique ID prefix or name")
    String container;

    @Override
    public Integer call() throws Exception {
        Instant sinceTime = since == null ? null : since(since, Instant.now());
        OutputStream out = ByteOutput.of(spec.commandLine().getOut());
        OutputStream err = ByteOutput.of(spec.commandLine().getErr());
        try (CriSession cri = options.connect()) {
            String id = Resolve.container(cri, container);
            ContainerStatus status = status(cri, id);
            if (status == null) {
                throw ClientException.notFound("no such container: " + container);
            }
            if (status.getLogPath().isEmpty()) {
                throw new ClientException(ExitCodes.FAILED, "container " + Output.shortId(id) + " has no log file (it was created without a log path)");
            }
            Path path = Path.of(status.getLogPath());
            if (previous) {
                int attempt = status.getMetadata().getAttempt();
                if (attempt == 0) {
                    throw ClientException.notFound("container " + Output.shortId(id) + " is the first attempt: there is no previous log");
                }
                path = path.resolveSibling((attempt - 1) + ".log");
            }
            read(path, new CriLogReader.Options(tail < 0 ? null : tail, sinceTime, timestamps, limitBytes < 0 ? null : limitBytes, follow && !previous),
                    out, err, () -> running(cri, id));
        }
        return ExitCodes.OK;
    }

    private static ContainerStatus status(CriSession cri, String id) {
        try {
            return cri.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build()).getStatus();
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.NOT_FOUND) {
                return null;
            }
            throw e;
        }
    }

    /** Whether the container may still write to its log: created or running (not exited, not removed). */
    private static boolean running(CriSession cri, String id) {
        ContainerStatus s = status(cri, id);
        return s != null && s.getState() != ContainerState.CONTAINER_EXITED && s.getState() != ContainerState.CONTAINER_UNKNOWN;
    }

    /**
     * Prints the log at {@code path} ({@link CriLogReader}: stdout's lines to {@code out},
     * stderr's to {@code err}); with {@code running} (follow) waits for more until it says the
     * container stopped, following the path to a new file when the log is rotated. The runtime
     * is asked at most every {@link #STATE_EVERY_MS} ms.
     */
    static void read(Path path, CriLogReader.Options options, OutputStream out, OutputStream err, BooleanSupplier running) throws IOException {
        if (!Files.exists(path)) {
            throw new ClientException(ExitCodes.FAILED, "the log file " + path + " does not exist (was it removed, or is the runtime on another host?)");
        }
        if (!Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS)) {
            throw new ClientException(ExitCodes.FAILED, "the log file " + path + " is not a regular file");
        }
        long[] last = {System.nanoTime() - STATE_EVERY_MS * 1_000_000};
        boolean[] alive = {true};
        BooleanSupplier asked = running == null ? () -> false : () -> {
            long now = System.nanoTime();
            if (now - last[0] >= STATE_EVERY_MS * 1_000_000) {
                last[0] = now;
                alive[0] = running.getAsBoolean();
            }
            return alive[0];
        };
        new CriLogReader(Duration.ofMillis(POLL_MS)).read(path, options, out, err, asked, () -> false);
    }

    private static final Pattern DURATION_PART = Pattern.compile("(\\d+(?:\\.\\d*)?|\\.\\d+)(ns|us|\u00b5s|ms|s|m|h)");

    /** {@code --since}: an RFC 3339 time, or a duration back from {@code now} as Go writes it (1h30m, 5m, 10s, 250ms). */
    static Instant since(String value, Instant now) {
        try {
            return OffsetDateTime.parse(value, DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant();
        } catch (DateTimeParseException e) {
            // a duration then
        }
        Matcher m = DURATION_PART.matcher(value);
        double nanos = 0;
        int at = 0;
        while (at < value.length() && m.find(at) && m.start() == at) {
            double unit = switch (m.group(2)) {
                case "ns" -> 1;
                case "us", "\u00b5s" -> 1e3;
                case "ms" -> 1e6;
                case "s" -> 1e9;
                case "m" -> 60e9;
                default -> 3600e9;
            };
            nanos += Double.parseDouble(m.group(1)) * unit;
            at = m.end();
        }
        if (at == 0 || at != value.length()) {
            throw ClientException.usage("--since: \"" + value + "\" is neither an RFC 3339 time (2024-05-01T10:00:00Z) nor a duration (42m, 1h30m)");
        }
        return now.minus(Duration.ofNanos((long) nanos));
    }
}
