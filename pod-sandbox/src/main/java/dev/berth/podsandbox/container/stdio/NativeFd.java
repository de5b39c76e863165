package dev.berth.podsandbox.container.stdio;

import dev.berth.host.Libc;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

/**
 * A descriptor berth owns (a terminal's master side or a UNIX socket), read and written by
 * other threads than the one that closes it. Reads and writes wait in short polls so that
 * {@link #close()} is seen within {@link #POLL_MS}; the descriptor itself is closed only when
 * no call is using it, so its number is never reused under a reader's feet.
 */
final class NativeFd implements AutoCloseable {
    static final int POLL_MS = 100;

    private final int fd;
    private final String what;
    private final AtomicInteger users = new AtomicInteger(1); // 1 = the owner's reference
    private final AtomicBoolean closing = new AtomicBoolean();

    NativeFd(int fd, String what) {
        this.fd = fd;
        this.what = what;
    }

    int fd() {
        return fd;
    }

    boolean isClosed() {
        return closing.get();
    }

    private boolean enter() {
        while (true) {
            int u = users.get();
            if (u == 0 || closing.get()) {
                return false;
            }
            if (users.compareAndSet(u, u + 1)) {
                return true;
            }
        }
    }

    private void exit() {
        if (users.decrementAndGet() == 0) {
            Libc.c().close(fd);
        }
    }

    /**
     * Reads into {@code dst}: the count, or -1 at end of input (end of stream, EIO from a
     * terminal whose other side is gone, or this descriptor closed).
     */
    int read(byte[] dst, int off, int len, Pointer buf) throws IOException {
        if (!enter()) {
            return -1;
        }
        try {
            while (!closing.get()) {
                int ev = Libc.poll(fd, Libc.POLLIN, POLL_MS);
                if (ev == 0) {
                    continue;
                }
                if (ev < 0 || (ev & Libc.POLLNVAL) != 0) {
                    return -1;
                }
                long n = Libc.c().read(fd, buf, Math.min(len, buf.size()));
                if (n > 0) {
                    buf.get(0, dst, off, (int) n);
                    return (int) n;
                }
                if (n == 0) {
                    return -1;
                }
                int e = Libc.errno();
                if (e == Libc.EINTR || e == Libc.EAGAIN) {
                    continue;
                }
                if (e == Libc.EIO) {
                    return -1; // a terminal whose every slave descriptor is closed
                }
                throw new IOException("cannot read " + what + ": " + Libc.describe(e));
            }
            return -1;
        } finally {
            exit();
        }
    }

    /** Writes all of {@code src}; fails once the descriptor is closed or the other side gone. */
    void write(byte[] src, int off, int len, Pointer buf) throws IOException {
        if (!enter()) {
            throw new IOException(what + " is closed");
        }
        try {
            while (len > 0) {
                if (closing.get()) {
                    throw new IOException(what + " is closed");
                }
                int ev = Libc.poll(fd, Libc.POLLOUT, POLL_MS);
                if (ev == 0) {
                    continue;
                }
                if (ev < 0 || (ev & (Libc.POLLERR | Libc.POLLHUP | Libc.POLLNVAL)) != 0 && (ev & Libc.POLLOUT) == 0) {
                    throw new IOException(what + " is gone");
                }
                int chunk = (int) Math.min(len, buf.size());
                buf.put(0, src, off, chunk);
                long n = Libc.c().write(fd, buf, chunk);
                if (n < 0) {
                    int e = Libc.errno();
                    if (e == Libc.EINTR || e == Libc.EAGAIN) {
                        continue;
                    }
                    throw new IOException("cannot write " + what + ": " + Libc.describe(e));
                }
                off += (int) n;
                len -= (int) n;
            }
        } finally {
            exit();
        }
    }

    /** Runs {@code call} with the descriptor held open; returns -1 when it is closed already. */
    int with(java.util.function.IntUnaryOperator call) {
        if (!enter()) {
            return -1;
        }
        try {
            return call.applyAsInt(fd);
        } finally {
            exit();
        }
    }

    /** Closes the descriptor once no read or write uses it any more (at most {@link #POLL_MS} later); idempotent. */
    @Override
    public void close() {
        if (closing.compareAndSet(false, true)) {
            exit();
        }
    }

    /** An input stream over this descriptor; closing it closes the descriptor. */
    InputStream inputStream() {
        Pointer buf = Memory.allocateDirect(Libc.runtime(), 32 * 1024);
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] b = new byte[1];
                return read(b, 0, 1) < 0 ? -1 : b[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (len == 0) {
                    return 0;
                }
                synchronized (buf) {
                    return NativeFd.this.read(b, off, len, buf);
                }
            }

            @Override
            public void close() {
                NativeFd.this.close();
            }
        };
    }

    /** An output stream over this descriptor; {@code onClose} decides what closing it means. */
    OutputStream outputStream(Runnable onClose) {
        Pointer buf = Memory.allocateDirect(Libc.runtime(), 32 * 1024);
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                synchronized (buf) {
                    NativeFd.this.write(b, off, len, buf);
                }
            }

            @Override
            public void close() {
                onClose.run();
            }
        };
    }
}
