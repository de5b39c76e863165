package dev.berth.podsandbox.container;

import dev.berth.common.BerthException;
import dev.berth.host.Command;
import dev.berth.podsandbox.container.stdio.Terminal;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Streaming exec sessions as child processes of berth: the OCI runtime's {@code exec} in the
 * container (see {@link PreparedExec}) with pipes, or for a TTY with a pseudo-terminal berth
 * allocates as the runtime's standard streams and controlling terminal (the runtime relays it
 * to the terminal it creates for the process). The streaming server only adapts a
 * {@link Session} to its protocol.
 */
public final class ExecSessions {
    /** How long a kill waits for the runtime to record the pid of the process it started. */
    static final Duration PID_WAIT = Duration.ofSeconds(5);
    /** Runs a command as a session leader whose controlling terminal is its stdin, and waits for it. */
    private static final List<String> SETSID = List.of("setsid", "--ctty", "--wait");

    /**
     * A prepared command line; {@code kill} stops what it runs, {@code release} frees its files.
     * With {@code tty} the command runs with a terminal as its standard streams; {@code stdin}
     * says whether the client has a stdin (to close).
     */
    public record Launch(List<String> argv, Runnable kill, Runnable release, boolean tty, boolean stdin) {
        public Launch {
            argv = List.copyOf(argv);
        }

        public Launch(List<String> argv, Runnable kill, Runnable release) {
            this(argv, kill, release, false, false);
        }
    }

    /** A running exec: its streams, its exit, and how to kill it and resize its terminal. */
    public interface Session {
        OutputStream stdin();

        InputStream stdout();

        /** The error stream; null with a TTY, whose terminal carries both output streams on stdout. */
        InputStream stderr();

        /** Completes with the exit code (128 + signal for a killed process). */
        CompletableFuture<Integer> exit();

        /** Kills the process (and what it started); idempotent. */
        void kill();

        /** Sets the terminal size of a TTY session; ignored without a TTY. */
        default void resize(int width, int height) {
        }
    }

    private ExecSessions() {
    }

    /** The runtime's {@code exec} of {@code cmd} in container {@code id} (width and height 0: no terminal size yet). */
    public static Launch prepare(ContainerManager containers, String id, List<String> cmd, boolean tty, boolean stdin,
            int width, int height) {
        PreparedExec p = containers.prepareExec(id, cmd, tty, width, height);
        return new Launch(p.argv(), () -> p.kill(PID_WAIT), p::release, p.tty(), stdin);
    }

    /**
     * Starts {@code launch}; {@code width} and {@code height} (0: none) are the terminal's size
     * at the start. Its files are released when it exits, or at once when it cannot start.
     */
    public static Session start(Launch launch, int width, int height) {
        if (launch.tty()) {
            return startWithTerminal(launch, width, height);
        }
        Process p;
        try {
            p = Command.of(launch.argv()).stdin(ProcessBuilder.Redirect.PIPE).start();
        } catch (IOException e) {
            launch.release().run();
            throw BerthException.unavailable("cannot run %s: %s", launch.argv().get(0), e.getMessage());
        }
        CompletableFuture<Integer> exit = p.onExit().thenApply(Process::exitValue);
        exit.whenComplete((c, t) -> launch.release().run());
        return new ProcessSession(p, launch, exit) {
            @Override
            public OutputStream stdin() {
                return p.getOutputStream();
            }

            @Override
            public InputStream stdout() {
                return p.getInputStream();
            }

            @Override
            public InputStream stderr() {
                return p.getErrorStream();
            }
        };
    }

    /**
     * A TTY exec: the runtime runs in the foreground with the terminal's slave side as stdin,
     * stdout and stderr and as its controlling terminal. It switches that terminal to raw mode
     * and relays it to the terminal it made for the process, whose line discipline echoes and
     * interprets ^C and ^D; a size set on the master reaches it as SIGWINCH, and it copies the
     * size over. The master is the session's stdout and stdin; the runtime exits with the
     * process's status.
     */
    private static Session startWithTerminal(Launch launch, int width, int height) {
        Terminal terminal;
        try {
            terminal = Terminal.open();
            if (width > 0 || height > 0) {
                // the runtime copies its terminal's size to the process's at the start
                terminal.resize(width, height);
            }
        } catch (RuntimeException e) {
            launch.release().run();
            throw e;
        }
        List<String> argv = new ArrayList<>(SETSID);
        argv.addAll(launch.argv());
        File slave = terminal.slave().toFile();
        Process p;
        try {
            p = Command.of(argv)
                    .stdin(ProcessBuilder.Redirect.from(slave))
                    .stdout(ProcessBuilder.Redirect.appendTo(slave))
                    .stderr(ProcessBuilder.Redirect.appendTo(slave))
                    .start();
        } catch (IOException e) {
            terminal.close();
            launch.release().run();
            throw BerthException.unavailable("cannot run %s: %s", launch.argv().get(0), e.getMessage());
        }
        CompletableFuture<Integer> exit = p.onExit().thenApply(Process::exitValue);
        exit.whenComplete((c, t) -> launch.release().run());
        boolean stdin = launch.stdin();
        return new ProcessSession(p, launch, exit) {
            @Override
            public OutputStream stdin() {
                // closing the terminal's input types ^D: only for a client that has a stdin to close
                return stdin ? terminal.input() : OutputStream.nullOutputStream();
            }

            @Override
            public InputStream stdout() {
                return terminal.output();
            }

            @Override
            public InputStream stderr() {
                return null;
            }

            @Override
            public void resize(int width, int height) {
                terminal.resize(width, height);
            }
        };
    }

    /** The exit and kill of a runtime process; subclasses add its streams. */
    private abstract static class ProcessSession implements Session {
        private final Process process;
        private final Launch launch;
        private final CompletableFuture<Integer> exit;

        ProcessSession(Process process, Launch launch, CompletableFuture<Integer> exit) {
            this.process = process;
            this.launch = launch;
            this.exit = exit;
        }

        @Override
        public CompletableFuture<Integer> exit() {
            return exit;
        }

        @Override
        public void kill() {
            if (process.isAlive()) {
                // off the caller's thread (an event loop): waiting for the pid file may take a moment
                Thread t = new Thread(() -> {
                    launch.kill().run();
                    process.destroyForcibly();
                }, "berth-exec-kill");
                t.setDaemon(true);
                t.start();
            }
        }
    }
}
