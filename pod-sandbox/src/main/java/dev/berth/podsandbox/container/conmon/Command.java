package dev.berth.podsandbox.container.conmon;

import dev.berth.common.BerthException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a short-lived helper program (the OCI runtime's subcommands) and collects its output. */
public final class Command {
    /** What a finished program left. */
    public record Result(int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }

        /** stderr, else stdout, trimmed: what to show a caller when it failed. */
        public String diagnostic() {
            String s = stderr.isBlank() ? stdout : stderr;
            return s.strip();
        }
    }

    private Command() {
    }

    public static Result run(List<String> argv, byte[] stdin, Duration timeout) {
        Process p;
        try {
            p = new ProcessBuilder(argv).redirectInput(stdin == null ? ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))
                    : ProcessBuilder.Redirect.PIPE).start();
        } catch (IOException e) {
            throw BerthException.unavailable("cannot run %s: %s", argv.get(0), e.getMessage());
        }
        try {
            Drain out = new Drain(p.getInputStream(), Long.MAX_VALUE);
            Drain err = new Drain(p.getErrorStream(), Long.MAX_VALUE);
            out.start();
            err.start();
            if (stdin != null) {
                try (OutputStream o = p.getOutputStream()) {
                    o.write(stdin);
                } catch (IOException e) {
                    // the program exited without reading its input; its exit status tells why
                }
            }
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                p.waitFor();
                throw BerthException.deadlineExceeded("%s did not finish within %s", String.join(" ", argv), timeout);
            }
            out.join(2000);
            err.join(2000);
            return new Result(p.exitValue(), out.text(), err.text());
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted running " + argv.get(0), e);
        }
    }

    /** Reads a stream to its end on its own thread, keeping at most {@code cap} bytes. */
    public static final class Drain extends Thread {
        private final InputStream in;
        private final long cap;
        private final ByteArrayOutputStream kept = new ByteArrayOutputStream();
        private volatile boolean truncated;

        public Drain(InputStream in, long cap) {
            super("berth-output-drain");
            setDaemon(true);
            this.in = in;
            this.cap = cap;
        }

        @Override
        public void run() {
            byte[] buf = new byte[8192];
            try (InputStream s = in) {
                int n;
                while ((n = s.read(buf)) >= 0) {
                    synchronized (kept) {
                        long room = cap - kept.size();
                        if (room >= n) {
                            kept.write(buf, 0, n);
                        } else {
                            if (room > 0) {
                                kept.write(buf, 0, (int) room);
                            }
                            truncated = true;
                        }
                    }
                }
            } catch (IOException e) {
                // stream closed under us (timeout or process gone): keep what was read
            }
        }

        public byte[] bytes() {
            synchronized (kept) {
                return kept.toByteArray();
            }
        }

        String text() {
            return new String(bytes(), StandardCharsets.UTF_8);
        }

        public boolean truncated() {
            return truncated;
        }

        public void close() {
            try {
                in.close();
            } catch (IOException e) {
                // already closed
            }
        }
    }
}
