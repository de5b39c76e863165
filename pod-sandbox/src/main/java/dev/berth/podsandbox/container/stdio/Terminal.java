package dev.berth.podsandbox.container.stdio;

import dev.berth.host.Libc;
import java.io.InputStream;
import java.io.OutputStream;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

/**
 * A pseudo-terminal berth allocates for a process: the process is given the slave side
 * ({@link #slave()}) as its stdin, stdout and stderr (and controlling terminal); berth keeps
 * the master. What the process prints is read from {@link #output()}, what is written to
 * {@link #input()} is what it reads. Closing the input types the end-of-file character (^D),
 * as a user would; the master goes with {@link #close()}.
 */
public final class Terminal implements AutoCloseable {
    private static final byte EOT = 4;

    private final NativeFd master;
    private final java.nio.file.Path slave;
    private final InputStream output;
    private final OutputStream input;

    private Terminal(NativeFd master, java.nio.file.Path slave) {
        this.master = master;
        this.slave = slave;
        this.output = master.inputStream();
        this.input = master.outputStream(this::endOfInput);
    }

    /**
     * Allocates a new pseudo-terminal (its master is not inherited by child processes), in raw
     * mode: berth's terminal only carries bytes to the runtime, which relays them to the
     * process's own terminal, whose line discipline echoes and edits.
     */
    public static Terminal open() {
        int fd = Libc.c().posix_openpt(Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC);
        if (fd < 0) {
            throw dev.berth.common.BerthException.unavailable("cannot allocate a terminal: %s", Libc.describe(Libc.errno()));
        }
        Pointer name = Memory.allocateDirect(Libc.runtime(), 128);
        Pointer termios = Memory.allocateDirect(Libc.runtime(), 256); // struct termios is 60 bytes
        if (Libc.c().grantpt(fd) != 0 || Libc.c().unlockpt(fd) != 0 || Libc.c().ptsname_r(fd, name, name.size()) != 0
                || Libc.c().tcgetattr(fd, termios) != 0 || raw(fd, termios) != 0) {
            int e = Libc.errno();
            Libc.c().close(fd);
            throw dev.berth.common.BerthException.unavailable("cannot set up a terminal: %s", Libc.describe(e));
        }
        return new Terminal(new NativeFd(fd, "terminal"), java.nio.file.Path.of(name.getString(0)));
    }

    private static int raw(int fd, Pointer termios) {
        Libc.c().cfmakeraw(termios);
        return Libc.c().tcsetattr(fd, 0 /* TCSANOW */, termios);
    }

    /** The slave side's device ({@code /dev/pts/N}), to open as the process's standard streams. */
    public java.nio.file.Path slave() {
        return slave;
    }

    /** What the process writes to its terminal; ends when the process (and every holder of the slave) is gone. */
    public InputStream output() {
        return output;
    }

    /** What the process reads from its terminal. */
    public OutputStream input() {
        return input;
    }

    /** Sets the terminal's size in characters ({@code TIOCSWINSZ}); the process gets SIGWINCH. */
    public void resize(int width, int height) {
        if (width <= 0 || height <= 0) {
            return;
        }
        Pointer ws = Memory.allocateDirect(Libc.runtime(), 8);
        ws.putShort(0, (short) height); // ws_row
        ws.putShort(2, (short) width); // ws_col
        ws.putShort(4, (short) 0);
        ws.putShort(6, (short) 0);
        master.with(fd -> Libc.c().ioctl(fd, Libc.TIOCSWINSZ, ws));
    }

    private void endOfInput() {
        try {
            input.write(new byte[] {EOT});
        } catch (java.io.IOException e) {
            // the process is gone
        }
    }

    /** Releases the master side (the process sees a hang-up if it is still there); idempotent. */
    @Override
    public void close() {
        master.close();
    }
}
