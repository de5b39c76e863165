package dev.berth.cgroups;

import dev.berth.common.BerthException;
import java.io.FileInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Reads and writes cgroup interface files. Writes map kernel refusals to berth errors
 * (EINVAL → invalid argument); reads for stats go through a per-thread buffer and parse bytes
 * in place, so a full stats read allocates little beyond the result.
 */
public final class CgroupFiles {
    private static final int BUFFER = 64 * 1024;
    private static final ThreadLocal<byte[]> BUF = ThreadLocal.withInitial(() -> new byte[BUFFER]);

    private CgroupFiles() {
    }

    /** Writes {@code value} to an existing cgroup file (never creates one). */
    public static void write(Path file, String value) {
        try {
            Files.write(file, value.getBytes(StandardCharsets.UTF_8), StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
        } catch (NoSuchFileException e) {
            throw BerthException.failedPrecondition("cgroup file %s does not exist (controller not enabled?)", file);
        } catch (FileSystemException e) {
            String reason = e.getReason() == null ? "" : e.getReason();
            if (reason.contains("Invalid argument") || reason.contains("Numerical result out of range")) {
                throw BerthException.invalidArgument("cgroup rejected %s = %s: %s", file, value.trim(), reason);
            }
            if (reason.contains("Device or resource busy")) {
                throw BerthException.failedPrecondition("cgroup refused %s = %s: %s", file, value.trim(), reason);
            }
            throw BerthException.internal("cannot write " + value.trim() + " to " + file + ": " + reason, e);
        } catch (IOException e) {
            String msg = e.getMessage() == null ? "" : e.getMessage();
            if (msg.contains("Invalid argument")) {
                throw BerthException.invalidArgument("cgroup rejected %s = %s: %s", file, value.trim(), msg);
            }
            throw BerthException.internal("cannot write " + value.trim() + " to " + file, e);
        }
    }

    /** Writes only when the file exists; returns whether it did. */
    public static boolean writeIfExists(Path file, String value) {
        if (!Files.exists(file)) {
            return false;
        }
        write(file, value);
        return true;
    }

    /** The trimmed text of a small cgroup file, or null when it does not exist. */
    public static String readString(Path file) {
        try {
            return Files.readString(file).trim();
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw BerthException.internal("cannot read " + file, e);
        }
    }

    /**
     * The trimmed text of a file that may vanish while it is read (a process's /proc entry, a
     * cgroup being removed), or null when it is gone or unreadable.
     */
    public static String readStringIfPresent(Path file) {
        try {
            return Files.readString(file).trim();
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * Reads a whole file into this thread's buffer; returns its length or -1 when it does not
     * exist (a cgroup removed under us) or cannot be read.
     */
    public static int read(String file) {
        byte[] buf = BUF.get();
        try (FileInputStream in = new FileInputStream(file)) {
            int n = 0;
            while (n < buf.length) {
                int r = in.read(buf, n, buf.length - n);
                if (r < 0) {
                    break;
                }
                n += r;
            }
            return n;
        } catch (FileNotFoundException e) {
            return -1;
        } catch (IOException e) {
            return -1;
        }
    }

    /** This thread's buffer, filled by the last {@link #read}. */
    public static byte[] buffer() {
        return BUF.get();
    }

    /** A file holding one number (or "max" → Long.MAX_VALUE); -1 when missing or empty. */
    public static long readLong(String file) {
        int n = read(file);
        if (n <= 0) {
            return -1;
        }
        byte[] b = buffer();
        if (b[0] == 'm') {
            return Long.MAX_VALUE;
        }
        return parseLong(b, 0, n);
    }

    /** Parses the decimal number starting at {@code from} (stops at the first non-digit). */
    public static long parseLong(byte[] b, int from, int end) {
        long v = 0;
        int i = from;
        boolean neg = false;
        if (i < end && b[i] == '-') {
            neg = true;
            i++;
        }
        for (; i < end; i++) {
            int d = b[i] - '0';
            if (d < 0 || d > 9) {
                break;
            }
            v = v * 10 + d;
        }
        return neg ? -v : v;
    }

    /** Parses a decimal such as "0.25"; stops at the first character that is neither digit nor '.'. */
    public static double parseDouble(byte[] b, int from, int end) {
        long whole = 0;
        long frac = 0;
        long scale = 1;
        boolean dot = false;
        for (int i = from; i < end; i++) {
            byte c = b[i];
            if (c == '.') {
                dot = true;
            } else if (c >= '0' && c <= '9') {
                if (dot) {
                    frac = frac * 10 + (c - '0');
                    scale *= 10;
                } else {
                    whole = whole * 10 + (c - '0');
                }
            } else {
                break;
            }
        }
        return whole + (double) frac / scale;
    }

    /** ASCII bytes of a key for {@link #keyed}. */
    public static byte[][] keys(String... names) {
        byte[][] out = new byte[names.length][];
        for (int i = 0; i < names.length; i++) {
            out[i] = names[i].getBytes(StandardCharsets.US_ASCII);
        }
        return out;
    }

    /**
     * Reads a flat keyed file ("key value" per line: cpu.stat, memory.stat, memory.events,
     * pids.events) and stores the value of {@code keys[i]} in {@code out[i]}; keys absent from
     * the file leave their slot untouched. Returns false when the file is missing.
     */
    public static boolean readKeyed(String file, byte[][] keys, long[] out) {
        int n = read(file);
        if (n < 0) {
            return false;
        }
        byte[] b = buffer();
        int line = 0;
        while (line < n) {
            int space = line;
            while (space < n && b[space] != ' ' && b[space] != '\n') {
                space++;
            }
            int eol = space;
            while (eol < n && b[eol] != '\n') {
                eol++;
            }
            if (space < eol) {
                int keyLen = space - line;
                for (int k = 0; k < keys.length; k++) {
                    byte[] key = keys[k];
                    if (key.length == keyLen && regionEquals(b, line, key)) {
                        out[k] = parseLong(b, space + 1, eol);
                        break;
                    }
                }
            }
            line = eol + 1;
        }
        return true;
    }

    static boolean regionEquals(byte[] b, int at, byte[] key) {
        for (int i = 0; i < key.length; i++) {
            if (b[at + i] != key[i]) {
                return false;
            }
        }
        return true;
    }

    /**
     * Reads a PSI file ({@code some avg10=0.00 avg60=0.00 avg300=0.00 total=0}, then the same
     * for {@code full}) into {@code [some avg10, avg60, avg300, total µs, full avg10, avg60,
     * avg300, total µs]}; null when the file is missing.
     */
    public static double[] readPressure(String file) {
        int n = read(file);
        if (n <= 0) {
            return null;
        }
        byte[] b = buffer();
        double[] out = new double[8];
        int line = 0;
        while (line < n) {
            int eol = line;
            while (eol < n && b[eol] != '\n') {
                eol++;
            }
            int base = b[line] == 'f' ? 4 : 0;
            int field = 0;
            for (int i = line; i < eol && field < 4; i++) {
                if (b[i] == '=') {
                    out[base + field] = field == 3 ? parseLong(b, i + 1, eol) : parseDouble(b, i + 1, eol);
                    field++;
                }
            }
            line = eol + 1;
        }
        return out;
    }
}
