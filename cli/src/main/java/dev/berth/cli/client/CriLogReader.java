package dev.berth.cli.client;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayDeque;
import java.util.function.LongConsumer;

/**
 * Prints a container log in the CRI format, one line per record:
 * {@code <RFC3339Nano time> <stdout|stderr> <F|P>[:more tags] <text>}; a {@code P} (partial)
 * record continues in the next record of its stream, an {@code F} record ends the line. stdout
 * records go to one stream, stderr records to the other. Bytes are fed in as they come (a file
 * followed while it grows may end in the middle of a record): the text is passed through as it
 * arrives, never held, so a hostile record without a newline costs no memory; only the header
 * is kept, and a header longer than {@link #MAX_HEADER} makes the record malformed. Malformed
 * records are skipped, as the kubelet skips them.
 */
final class CriLogReader {
    /** Longest header: a time with nanoseconds and an offset (35), the stream (6), tags, and the spaces. */
    static final int MAX_HEADER = 128;

    /** What is printed: time prefix, records before {@code since} (null: all) left out, at most {@code limitBytes} (negative: no limit). */
    record Options(boolean timestamps, Instant since, long limitBytes) {
        static final Options ALL = new Options(false, null, -1);
    }

    private enum State { HEADER, TEXT, SKIP }

    private final OutputStream stdout;
    private final OutputStream stderr;
    private final Options options;
    private final byte[] header = new byte[MAX_HEADER];
    private int headerLength;
    private int spaces;
    private State state = State.HEADER;
    /** Where the current record's text goes; null when it is left out. */
    private OutputStream current;
    private boolean partial;
    /** A line of that stream (stdout 0, stderr 1) has begun and not ended. */
    private final boolean[] open = new boolean[2];
    private int currentStream;
    private long written;
    private boolean full;
    private long position;
    private LongConsumer lineEnds = p -> { };

    CriLogReader(OutputStream stdout, OutputStream stderr, Options options) {
        this.stdout = stdout;
        this.stderr = stderr;
        this.options = options;
    }

    /**
     * Where the last {@code lines} whole lines of a log begin: the byte offset to read from for
     * {@code --tail}. Reads the log once; keeps {@code lines + 1} offsets at most.
     */
    static long tailStart(ReadableByteChannel log, long lines) throws IOException {
        ArrayDeque<Long> starts = new ArrayDeque<>();
        starts.add(0L);
        CriLogReader r = new CriLogReader(OutputStream.nullOutputStream(), OutputStream.nullOutputStream(), Options.ALL);
        r.lineEnds = p -> {
            starts.addLast(p);
            if (starts.size() > lines + 1) {
                starts.removeFirst();
            }
        };
        ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
        while (log.read(buf.clear()) >= 0) {
            r.feed(buf.array(), 0, buf.position());
        }
        return starts.getFirst();
    }

    /** Prints what {@code len} bytes of the log complete; false once --limit-bytes is reached (nothing more is printed). */
    boolean feed(byte[] b, int off, int len) throws IOException {
        int end = off + len;
        int i = off;
        while (i < end && !full) {
            if (state == State.HEADER) {
                byte c = b[i++];
                position++;
                header(c);
                continue;
            }
            int nl = indexOf(b, i, end);
            int stop = nl < 0 ? end : nl;
            if (state == State.TEXT && current != null) {
                write(current, b, i, stop - i);
            }
            position += stop - i;
            i = stop;
            if (nl >= 0 && !full) {
                i++;
                position++;
                if (state == State.TEXT) {
                    endRecord();
                }
                state = State.HEADER;
            }
        }
        stdout.flush();
        stderr.flush();
        return !full;
    }

    private void header(byte c) throws IOException {
        if (c == '\n') {
            // "<time> <stream> <tag>" with no text and no space after the tag is an empty record
            if (spaces == 2 && begin()) {
                endRecord();
            }
            resetHeader();
            return;
        }
        if (headerLength == MAX_HEADER) {
            resetHeader();
            state = State.SKIP;
            return;
        }
        header[headerLength++] = c;
        if (c == ' ' && ++spaces == 3) {
            state = begin() ? State.TEXT : State.SKIP;
            resetHeader();
        }
    }

    private void resetHeader() {
        headerLength = 0;
        spaces = 0;
    }

    /** Parses the header and starts the record; false when it is malformed. */
    private boolean begin() throws IOException {
        String[] f = new String(header, 0, headerLength, StandardCharsets.US_ASCII).strip().split(" ");
        if (f.length != 3) {
            return false;
        }
        Instant time;
        try {
            time = OffsetDateTime.parse(f[0], DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant();
        } catch (DateTimeParseException e) {
            return false;
        }
        int stream = switch (f[1]) {
            case "stdout" -> 0;
            case "stderr" -> 1;
            default -> -1;
        };
        String tag = f[2].split(":", 2)[0];
        if (stream < 0 || !(tag.equals("F") || tag.equals("P"))) {
            return false;
        }
        currentStream = stream;
        partial = tag.equals("P");
        boolean wanted = options.since() == null || !time.isBefore(options.since());
        current = wanted ? (stream == 0 ? stdout : stderr) : null;
        if (wanted && !open[stream]) {
            open[stream] = true;
            if (options.timestamps()) {
                byte[] t = (f[0] + " ").getBytes(StandardCharsets.US_ASCII);
                write(current, t, 0, t.length);
            }
        }
        return true;
    }

    private void endRecord() throws IOException {
        if (partial) {
            return;
        }
        if (current != null && open[currentStream]) {
            write(current, new byte[] {'\n'}, 0, 1);
        }
        open[currentStream] = false;
        lineEnds.accept(position);
    }

    private void write(OutputStream out, byte[] b, int off, int len) throws IOException {
        if (full) {
            return;
        }
        int n = len;
        if (options.limitBytes() >= 0) {
            n = (int) Math.min(len, options.limitBytes() - written);
        }
        out.write(b, off, n);
        written += n;
        full = options.limitBytes() >= 0 && written >= options.limitBytes();
    }

    /** A new file continues the log (it was rotated): it starts with a new record. */
    void nextFile() {
        resetHeader();
        state = State.HEADER;
    }

    /** The log ended: a line left open (a partial record last, a file cut off) is ended so the next prompt starts on its own line. */
    void finish() throws IOException {
        for (int s = 0; s < 2; s++) {
            if (open[s]) {
                open[s] = false;
                write(s == 0 ? stdout : stderr, new byte[] {'\n'}, 0, 1);
            }
        }
        stdout.flush();
        stderr.flush();
    }

    private static int indexOf(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] == '\n') {
                return i;
            }
        }
        return -1;
    }
}
