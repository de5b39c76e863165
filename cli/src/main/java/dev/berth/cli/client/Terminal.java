package dev.berth.cli.client;

import dev.berth.host.Libc;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

/**
 * The local terminal of {@code exec -t} and {@code attach -t}: raw mode (every key goes to the
 * remote terminal, whose line discipline echoes and edits, Ctrl-C included), its size, and
 * SIGWINCH. {@link #close()} restores the saved mode; so does a shutdown hook, for a client
 * ended by a signal.
 */
final class Terminal implements AutoCloseable {
    private static final int STDIN = 0;
    private static final int STDOUT = 1;
    /** ioctl: the terminal's size, struct winsize (rows, columns, x and y pixels as unsigned shorts). */
    private static final long TIOCGWINSZ = 0x5413;
    /** struct termios is 60 bytes on Linux; room to spare. */
    private static final int TERMIOS_BYTES = 256;

    private final Pointer saved;
    private final Thread restoreOnExit;
    private sun.misc.SignalHandler previousWinch;
    private boolean closed;

    private Terminal(Pointer saved) {
        this.saved = saved;
        this.restoreOnExit = new Thread(this::restore, "berth-terminal-restore");
    }

    /** Whether stdin is a terminal. */
    static boolean stdinIsTerminal() {
        Pointer t = Memory.allocateDirect(Libc.runtime(), TERMIOS_BYTES);
        return Libc.c().tcgetattr(STDIN, t) == 0;
    }

    /** Puts the terminal on stdin in raw mode; null when stdin is no terminal. */
    static Terminal raw() {
        Pointer saved = Memory.allocateDirect(Libc.runtime(), TERMIOS_BYTES);
        if (Libc.c().tcgetattr(STDIN, saved) != 0) {
            return null;
        }
        Pointer raw = Memory.allocateDirect(Libc.runtime(), TERMIOS_BYTES);
        raw.transferFrom(0, saved, 0, TERMIOS_BYTES);
        Libc.c().cfmakeraw(raw);
        Terminal t = new Terminal(saved);
        Runtime.getRuntime().addShutdownHook(t.restoreOnExit);
        if (Libc.c().tcsetattr(STDIN, 0 /* TCSANOW */, raw) != 0) {
            t.close();
            throw new ClientException(ExitCodes.FAILED, "cannot put the terminal in raw mode: " + Libc.describe(Libc.errno()));
        }
        return t;
    }

    /** Width and height in characters of the terminal on stdout (else stdin); null when neither is one. */
    static int[] size() {
        for (int fd : new int[] {STDOUT, STDIN}) {
            Pointer ws = Memory.allocateDirect(Libc.runtime(), 8);
            if (Libc.c().ioctl(fd, TIOCGWINSZ, ws) == 0) {
                int rows = ws.getShort(0) & 0xffff;
                int cols = ws.getShort(2) & 0xffff;
                if (rows > 0 && cols > 0) {
                    return new int[] {cols, rows};
                }
            }
        }
        return null;
    }

    /** The resize message of the channel protocols: {@code {"Width":w,"Height":h}}. */
    static String resizeMessage(int width, int height) {
        return "{\"Width\":" + width + ",\"Height\":" + height + "}";
    }

    /** Runs {@code r} on every SIGWINCH (the terminal was resized) until {@link #close()}. */
    void onResize(Runnable r) {
        previousWinch = sun.misc.Signal.handle(new sun.misc.Signal("WINCH"), s -> r.run());
    }

    private synchronized void restore() {
        if (!closed) {
            closed = true;
            Libc.c().tcsetattr(STDIN, 0, saved);
        }
    }

    /** Restores the terminal's mode and the previous SIGWINCH handler. */
    @Override
    public void close() {
        restore();
        if (previousWinch != null) {
            sun.misc.Signal.handle(new sun.misc.Signal("WINCH"), previousWinch);
            previousWinch = null;
        }
        try {
            Runtime.getRuntime().removeShutdownHook(restoreOnExit);
        } catch (IllegalStateException e) {
            // the JVM is shutting down: the hook runs (restore is idempotent)
        }
    }
}
