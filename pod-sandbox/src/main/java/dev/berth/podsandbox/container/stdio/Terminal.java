package dev.berth.podsandbox.container.stdio;

import java.io.InputStream;
import java.io.OutputStream;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

/**
 * The master side of a pseudo-terminal whose slave is a process's stdin, stdout and stderr:
 * what the process prints is read from {@link #output()}, what is written to {@link #input()}
 * is what it reads. Closing the input types the end-of-file character (^D), as a user would;
 * the descriptor itself goes with {@link #close()}.
 */
public final class Terminal implements AutoCloseable {
    private static final byte EOT = 4;

    private final NativeFd master;
    private final InputStream output;
    private final OutputStream input;

    Terminal(NativeFd master) {
        this.master = master;
        this.output = master.inputStream();
        this.input = master.outputStream(this::endOfInput);
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
        Pointer ws = Memory.allocateDirect(Libc.RUNTIME, 8);
        ws.putShort(0, (short) height); // ws_row
        ws.putShort(2, (short) width); // ws_col
        ws.putShort(4, (short) 0);
        ws.putShort(6, (short) 0);
        master.with(fd -> Libc.LIBC.ioctl(fd, Libc.TIOCSWINSZ, ws));
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
