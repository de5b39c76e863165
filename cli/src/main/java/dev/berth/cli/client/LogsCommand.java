package dev.berth.cli.client;

import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.ContainerStatusRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Objects;
import java.util.concurrent.Callable;
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
            CriLogReader reader = new CriLogReader(out, err, new CriLogReader.Options(timestamps, sinceTime, limitBytes));
            read(path, reader, tail, follow && !previous ? () -> running(cri, id) : null);
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

    /** What -f asks before it stops waiting for more. */
    interface Liveness {
        boolean running();
    }

    /**
     * Prints the log at {@code path} through {@code reader}, from its last {@code tail} lines
     * (negative: all); with {@code alive} (follow) waits for
     * more at the end, follows the path to a new file when the log is rotated (the path names
     * another file once the old one is read to its end), and stops once {@code alive} says the
     * container stopped and the file was read to its end after that.
     */
    static void read(Path path, CriLogReader reader, long tail, Liveness alive) throws IOException, InterruptedException {
        FileChannel log = open(path);
        Object key = fileKey(path);
        try {
            if (tail >= 0) {
                log.position(CriLogReader.tailStart(log, tail));
            }
            ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
            boolean stopping = false;
            long lastCheck = 0;
            while (true) {
                int n = log.read(buf.clear());
                if (n > 0) {
                    if (!reader.feed(buf.array(), 0, n)) {
                        return;
                    }
                    continue;
                }
                if (alive == null || stopping) {
                    break;
                }
                Object now = fileKeyOrNull(path);
                if (now != null && !now.equals(key)) {
                    // rotated: the old file is read to its end; the log goes on in the new one
                    log.close();
                    log = open(path);
                    key = now;
                    reader.nextFile();
                    continue;
                }
                long t = System.nanoTime();
                if (t - lastCheck >= STATE_EVERY_MS * 1_000_000) {
                    lastCheck = t;
                    if (!alive.running()) {
                        // one more read: what the container wrote before it exited
                        stopping = true;
                        continue;
                    }
                }
                Thread.sleep(POLL_MS);
            }
        } finally {
            log.close();
            reader.finish();
        }
    }

    /** The log file, opened for reading; missing or not a regular file (a FIFO, a directory) is a clear error. */
    private static FileChannel open(Path path) throws IOException {
        if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS) && !Files.exists(path)) {
            throw new ClientException(ExitCodes.FAILED, "the log file " + path + " does not exist (was it removed, or is the runtime on another host?)");
        }
        if (!Files.isRegularFile(path)) {
            throw new ClientException(ExitCodes.FAILED, "the log file " + path + " is not a regular file");
        }
        return FileChannel.open(path, StandardOpenOption.READ);
    }

    private static Object fileKey(Path path) throws IOException {
        return Objects.requireNonNull(Files.readAttributes(path, BasicFileAttributes.class).fileKey(), "file key");
    }

    private static Object fileKeyOrNull(Path path) throws IOException {
        try {
            return fileKey(path);
        } catch (NoSuchFileException e) {
            return null;
        }
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
