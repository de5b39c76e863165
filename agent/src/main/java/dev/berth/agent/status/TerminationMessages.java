package dev.berth.agent.status;

import dev.berth.agent.pod.PodDirs;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatus;
import io.fabric8.kubernetes.api.model.Container;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Set;

/**
 * The message of a terminated container, as the kubelet finds it: the first
 * {@value #MAX_MESSAGE_BYTES} bytes of the file the container had at its
 * terminationMessagePath ({@link PodDirs#terminationMessage}); else the runtime's own message;
 * else, with policy FallbackToLogsOnError and a failed container, the tail of its log (the
 * last {@value #MAX_LOG_LINES} lines, at most {@value #MAX_LOG_BYTES} bytes). Only regular
 * files are read, never through a symbolic link: the container owns the message file's
 * contents, not its kind (a FIFO would block the reader, a link would read a host file).
 */
public final class TerminationMessages implements PodStatusBuilder.Messages {
    static final int MAX_MESSAGE_BYTES = 4096;
    static final int MAX_LOG_LINES = 80;
    static final int MAX_LOG_BYTES = 2048;
    /** How much of a log's end is read to find its last lines (CRI log lines carry a prefix of about 40 bytes). */
    static final int LOG_WINDOW = 64 * 1024;

    private final PodDirs dirs;

    public TerminationMessages(PodDirs dirs) {
        this.dirs = dirs;
    }

    @Override
    public String message(String podUid, Container spec, ContainerStatus cri) {
        if (cri.getState() != ContainerState.CONTAINER_EXITED && cri.getState() != ContainerState.CONTAINER_UNKNOWN) {
            return "";
        }
        String message = "";
        try {
            message = readFile(dirs.terminationMessage(podUid, spec.getName(), cri.getMetadata().getAttempt()));
        } catch (IllegalArgumentException e) {
            // a name that is no path element has no file
        }
        if (message.isEmpty()) {
            message = cri.getMessage();
        }
        if (message.isEmpty() && "FallbackToLogsOnError".equals(spec.getTerminationMessagePolicy()) && cri.getExitCode() != 0
                && !cri.getLogPath().isEmpty()) {
            message = tailLog(Path.of(cri.getLogPath()));
        }
        return message;
    }

    /** The first {@value #MAX_MESSAGE_BYTES} bytes of {@code file} as UTF-8; empty when it is missing or not a regular file. */
    static String readFile(Path file) {
        return new String(read(file, MAX_MESSAGE_BYTES, false).bytes(), StandardCharsets.UTF_8);
    }

    /**
     * The text of the last {@value #MAX_LOG_LINES} lines of a CRI-format log
     * ({@code <time> <stream> <P|F> <text>}; P lines continue on the next), cut to its last
     * {@value #MAX_LOG_BYTES} bytes.
     */
    static String tailLog(Path log) {
        Chunk chunk = read(log, LOG_WINDOW, true);
        byte[] window = chunk.bytes();
        String text = new String(window, StandardCharsets.UTF_8);
        String[] raw = text.split("\n", -1);
        Deque<String> lines = new ArrayDeque<>();
        StringBuilder partial = new StringBuilder();
        // the window's first line is cut unless the window is the whole file: it is skipped
        int first = chunk.cut() ? 1 : 0;
        for (int i = first; i < raw.length; i++) {
            String line = raw[i];
            if (line.isEmpty()) {
                continue;
            }
            String[] parts = line.split(" ", 4);
            boolean cri = parts.length >= 3 && (parts[2].equals("P") || parts[2].equals("F"));
            String content = cri ? (parts.length == 4 ? parts[3] : "") : line;
            partial.append(content);
            if (cri && parts[2].equals("P")) {
                continue;
            }
            lines.addLast(partial.toString());
            partial.setLength(0);
            if (lines.size() > MAX_LOG_LINES) {
                lines.removeFirst();
            }
        }
        if (!partial.isEmpty()) {
            lines.addLast(partial.toString());
            if (lines.size() > MAX_LOG_LINES) {
                lines.removeFirst();
            }
        }
        byte[] out = String.join("\n", lines).getBytes(StandardCharsets.UTF_8);
        int from = Math.max(0, out.length - MAX_LOG_BYTES);
        while (from > 0 && from < out.length && (out[from] & 0xC0) == 0x80) {
            from++; // not in the middle of a character
        }
        return new String(out, from, out.length - from, StandardCharsets.UTF_8);
    }

    /** Some bytes of a file; {@code cut} when the file has more before them. */
    private record Chunk(byte[] bytes, boolean cut) {
        static final Chunk NONE = new Chunk(new byte[0], false);
    }

    /**
     * Up to {@code max} bytes of a regular file, from its start or (when {@code tail}) its end;
     * nothing on any error. The kind is checked before the open (a FIFO must not be opened at
     * all) and the open refuses a link put there meanwhile (O_NOFOLLOW).
     */
    private static Chunk read(Path file, int max, boolean tail) {
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!a.isRegularFile()) {
                return Chunk.NONE;
            }
            try (SeekableByteChannel ch = Files.newByteChannel(file, Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS))) {
                long size = ch.size();
                boolean cut = tail && size > max;
                if (cut) {
                    ch.position(size - max);
                }
                ByteBuffer buf = ByteBuffer.allocate(max);
                while (buf.hasRemaining() && ch.read(buf) > 0) {
                    // fill
                }
                byte[] out = new byte[buf.position()];
                buf.flip().get(out);
                return new Chunk(out, cut);
            }
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return Chunk.NONE;
        }
    }
}
