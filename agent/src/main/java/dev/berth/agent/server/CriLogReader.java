package dev.berth.agent.server;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Objects;
import java.util.function.BooleanSupplier;

/**
 * Reads one container's log file in the CRI log format ({@code <RFC 3339 time> <stdout|stderr>
 * <P|F> <content>}, one record a line, a long line split into partial {@code P} records ended
 * by an {@code F} record) and writes the container's output as it printed it: partial records
 * joined into their line, each line optionally prefixed by its time (that of its first
 * record, as RFC 3339 in UTC with the nanoseconds' trailing zeros trimmed).
 *
 * <p>{@code tailLines} counts lines of output (not records) from the end, found by reading the
 * file backwards, so the memory used does not grow with the file. {@code since} drops the
 * lines written before it. {@code limitBytes} ends the output after that many bytes. With
 * {@code follow} the reader waits at the end of the file for more until {@code stop} says the
 * client went or {@code running} says the container ended (then what it wrote last is read
 * out first); a file renamed away (rotated) is read to its end and its successor at the same
 * path from its beginning. Malformed records are skipped.
 */
public final class CriLogReader {
    /** The longest record kept; a longer one (the runtime splits lines long before) is cut there. */
    static final int MAX_RECORD = 1 << 20;
    private static final int CHUNK = 64 * 1024;
    /** Enough of a record's start to hold its time, stream and tag. */
    private static final int HEADER = 96;

    /** How the output is chosen; null fields are not set. */
    public record Options(Long tailLines, Instant since, boolean timestamps, Long limitBytes, boolean follow) {
        public static final Options ALL = new Options(null, null, false, null, false);
    }

    private final Duration pollInterval;

    public CriLogReader(Duration pollInterval) {
        this.pollInterval = pollInterval;
    }

    /**
     * Writes the log at {@code file} (a regular file, opened without following a symlink) to
     * {@code out} as {@code options} say; {@code running} and {@code stop} are asked only when
     * following.
     */
    public void read(Path file, Options options, OutputStream out, BooleanSupplier running, BooleanSupplier stop) throws IOException {
        read(file, options, out, out, running, stop);
    }

    /** {@link #read(Path, Options, OutputStream, BooleanSupplier, BooleanSupplier)} with stderr's lines to {@code err}; the limit counts both. */
    public void read(Path file, Options options, OutputStream out, OutputStream err, BooleanSupplier running, BooleanSupplier stop)
            throws IOException {
        Limited sink = new Limited(out, err, options.limitBytes() == null ? Long.MAX_VALUE : options.limitBytes());
        FileChannel ch = open(file);
        try {
            Object key = fileKey(file);
            long pos = options.tailLines() == null ? 0 : tailStart(ch, options.tailLines());
            Records records = new Records(options, sink);
            ByteBuffer buf = ByteBuffer.allocate(CHUNK);
            boolean exited = false;
            while (!sink.full()) {
                buf.clear();
                int n = ch.read(buf, pos);
                if (n > 0) {
                    pos += n;
                    records.feed(buf.array(), n);
                    continue;
                }
                if (!options.follow()) {
                    break;
                }
                sink.flush();
                if (stop.getAsBoolean()) {
                    break;
                }
                Object now = fileKey(file);
                if (now != null && !now.equals(key)) {
                    // rotated: the old file is read to its end above; its successor is read from its start
                    FileChannel next = open(file);
                    ch.close();
                    ch = next;
                    key = now;
                    pos = 0;
                    records.dropPartial();
                    continue;
                }
                if (ch.size() < pos) {
                    // truncated in place: what is there now is new
                    pos = 0;
                    records.dropPartial();
                    continue;
                }
                if (exited) {
                    break;
                }
                if (!running.getAsBoolean()) {
                    exited = true; // one more read: what it wrote before it ended
                    continue;
                }
                try {
                    Thread.sleep(pollInterval.toMillis());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while following a log");
                }
            }
            sink.flush();
        } finally {
            ch.close();
        }
    }

    /** Opens a regular file for reading; a symlink in its last element is refused (O_NOFOLLOW). */
    static FileChannel open(Path file) throws IOException {
        return FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
    }

    private static Object fileKey(Path file) {
        try {
            return Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * Where the last {@code lines} lines of output start: read backwards record by record,
     * each complete {@code F} record ends a line (an unfinished line of {@code P} records at
     * the end counts as one); 0 when the file has fewer.
     */
    static long tailStart(FileChannel ch, long lines) throws IOException {
        long size = ch.size();
        if (lines <= 0) {
            return size;
        }
        // the complete records end at the last newline; bytes after it are a record being written
        long completeEnd = lastNewline(ch, size) + 1;
        if (completeEnd <= 0) {
            return 0;
        }
        long count = 0;
        long after = completeEnd; // the start of the record after the one looked at
        boolean partialAtEnd = false;
        ByteBuffer buf = ByteBuffer.allocate(CHUNK);
        long chunkEnd = completeEnd - 1; // skip the newline ending the last record
        while (true) {
            long chunkStart = Math.max(0, chunkEnd - CHUNK);
            int len = (int) (chunkEnd - chunkStart);
            buf.clear().limit(len);
            readFully(ch, buf, chunkStart);
            for (int i = len - 1; i >= -1; i--) {
                long start;
                if (i >= 0) {
                    if (buf.get(i) != '\n') {
                        continue;
                    }
                    start = chunkStart + i + 1;
                } else if (chunkStart == 0) {
                    start = 0;
                } else {
                    break;
                }
                int tag = tag(ch, start);
                boolean fin = tag == FINAL;
                if (tag == MALFORMED) {
                    // no line of output: skipped here as when read
                } else if (after == completeEnd) {
                    if (!fin) {
                        // the last record leaves its line unfinished: that line is the first counted
                        count = 1;
                        partialAtEnd = true;
                    }
                } else if (fin) {
                    // a line of output starts at `after` (the unfinished one at the end was counted already)
                    if (partialAtEnd) {
                        partialAtEnd = false;
                    } else {
                        count++;
                    }
                    if (count >= lines) {
                        return after;
                    }
                }
                after = start;
            }
            if (chunkStart == 0) {
                return 0;
            }
            chunkEnd = chunkStart;
        }
    }

    private static long lastNewline(FileChannel ch, long size) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(CHUNK);
        long end = size;
        while (end > 0) {
            long start = Math.max(0, end - CHUNK);
            buf.clear().limit((int) (end - start));
            readFully(ch, buf, start);
            for (int i = (int) (end - start) - 1; i >= 0; i--) {
                if (buf.get(i) == '\n') {
                    return start + i;
                }
            }
            end = start;
        }
        return -1;
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long at) throws IOException {
        long p = at;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, p);
            if (n < 0) {
                throw new IOException("the log file shrank while it was read");
            }
            p += n;
        }
    }

    private static final int PARTIAL = 0;
    private static final int FINAL = 1;
    private static final int MALFORMED = 2;

    /** Whether the record starting at {@code start} leaves its line open (P), ends it (F) or is no record. */
    private static int tag(FileChannel ch, long start) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(HEADER);
        ch.read(head, start);
        byte[] b = head.array();
        int len = head.position();
        int first = indexOf(b, len, (byte) ' ', 0);
        int second = first < 0 ? -1 : indexOf(b, len, (byte) ' ', first + 1);
        if (second < 0 || second + 1 >= len) {
            return MALFORMED;
        }
        String stream = new String(b, first + 1, second - first - 1, StandardCharsets.US_ASCII);
        if (!stream.equals("stdout") && !stream.equals("stderr")) {
            return MALFORMED;
        }
        boolean tagEnds = second + 2 >= len || b[second + 2] == ' ' || b[second + 2] == ':' || b[second + 2] == '\n';
        return !tagEnds ? MALFORMED : b[second + 1] == 'P' ? PARTIAL : b[second + 1] == 'F' ? FINAL : MALFORMED;
    }

    private static int indexOf(byte[] b, int len, byte c, int from) {
        for (int i = from; i < len; i++) {
            if (b[i] == c) {
                return i;
            }
        }
        return -1;
    }

    /** Splits fed bytes into records and writes their content. */
    private static final class Records {
        private final Options options;
        private final Limited out;
        private byte[] record = new byte[256];
        private int length;
        private boolean cut;
        /** The next record starts a line of output. */
        private boolean lineStart = true;
        /** The current line is left out (written before {@code since}). */
        private boolean skipping;

        Records(Options options, Limited out) {
            this.options = options;
            this.out = out;
        }

        void feed(byte[] bytes, int n) throws IOException {
            int from = 0;
            for (int i = 0; i < n && !out.full(); i++) {
                if (bytes[i] == '\n') {
                    append(bytes, from, i - from);
                    record(record, length);
                    length = 0;
                    cut = false;
                    from = i + 1;
                }
            }
            if (from < n && !out.full()) {
                append(bytes, from, n - from);
            }
        }

        /** A record begun in a file that is gone is not finished by the next file. */
        void dropPartial() {
            length = 0;
            cut = false;
        }

        private void append(byte[] bytes, int from, int n) {
            if (cut) {
                return;
            }
            int room = MAX_RECORD - length;
            if (n > room) {
                n = room;
                cut = true;
            }
            if (length + n > record.length) {
                record = java.util.Arrays.copyOf(record, Math.max(length + n, Math.min(MAX_RECORD, record.length * 2)));
            }
            System.arraycopy(bytes, from, record, length, n);
            length += n;
        }

        private void record(byte[] b, int len) throws IOException {
            int s1 = indexOf(b, len, (byte) ' ', 0);
            int s2 = s1 < 0 ? -1 : indexOf(b, len, (byte) ' ', s1 + 1);
            if (s2 < 0) {
                return;
            }
            int s3 = indexOf(b, len, (byte) ' ', s2 + 1);
            int tagEnd = s3 < 0 ? len : s3;
            String stream = new String(b, s1 + 1, s2 - s1 - 1, StandardCharsets.US_ASCII);
            if (!stream.equals("stdout") && !stream.equals("stderr")) {
                return;
            }
            String tags = new String(b, s2 + 1, tagEnd - s2 - 1, StandardCharsets.US_ASCII);
            int colon = tags.indexOf(':');
            String tag = colon < 0 ? tags : tags.substring(0, colon);
            boolean partial;
            if (tag.equals("P")) {
                partial = true;
            } else if (tag.equals("F")) {
                partial = false;
            } else {
                return;
            }
            Instant time;
            String ts = new String(b, 0, s1, StandardCharsets.US_ASCII);
            try {
                time = OffsetDateTime.parse(ts, DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant();
            } catch (DateTimeParseException e) {
                return;
            }
            int contentStart = s3 < 0 ? len : s3 + 1;
            out.select(stream.equals("stderr"));
            if (lineStart) {
                skipping = options.since() != null && time.isBefore(options.since());
                if (!skipping && options.timestamps()) {
                    out.write((format(time) + " ").getBytes(StandardCharsets.US_ASCII));
                }
            }
            if (!skipping) {
                out.write(b, contentStart, len - contentStart);
                if (!partial) {
                    out.write('\n');
                }
            }
            lineStart = !partial;
        }
    }

    /** RFC 3339 in UTC with nanoseconds, trailing zeros trimmed (and no fraction when it is zero). */
    static String format(Instant time) {
        OffsetDateTime t = time.atOffset(ZoneOffset.UTC);
        StringBuilder s = new StringBuilder(DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss").format(t));
        int nanos = t.getNano();
        if (nanos != 0) {
            String frac = String.format("%09d", nanos);
            int end = frac.length();
            while (frac.charAt(end - 1) == '0') {
                end--;
            }
            s.append('.').append(frac, 0, end);
        }
        return s.append('Z').toString();
    }

    /** The output (stdout's and stderr's lines, {@link #select}ed), ending after {@code limit} bytes. */
    private static final class Limited {
        private final OutputStream stdout;
        private final OutputStream stderr;
        private OutputStream out;
        private long remaining;

        Limited(OutputStream stdout, OutputStream stderr, long limit) {
            this.stdout = Objects.requireNonNull(stdout);
            this.stderr = Objects.requireNonNull(stderr);
            this.out = stdout;
            this.remaining = limit;
        }

        /** Where the next writes go: stderr's stream or stdout's. */
        void select(boolean toStderr) {
            out = toStderr ? stderr : stdout;
        }

        boolean full() {
            return remaining <= 0;
        }

        void write(int b) throws IOException {
            if (remaining > 0) {
                out.write(b);
                remaining--;
            }
        }

        void write(byte[] b) throws IOException {
            write(b, 0, b.length);
        }

        void write(byte[] b, int off, int len) throws IOException {
            int n = (int) Math.min(len, remaining);
            if (n > 0) {
                out.write(b, off, n);
                remaining -= n;
            }
        }

        void flush() throws IOException {
            stdout.flush();
            if (stderr != stdout) {
                stderr.flush();
            }
        }
    }
}
