package dev.berth.criserver.streaming;

import dev.berth.common.BerthException;
import dev.berth.streaming.ExecBackend;
import dev.berth.streaming.StreamRequest;
import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.PreparedExec;
import dev.berth.podsandbox.container.stdio.ContainerAttachment;
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
 * Exec sessions as child processes: {@link #runtime(ContainerManager)} runs the OCI runtime's
 * {@code exec} in the container (the launcher decides the command line) with pipes, or for a
 * TTY with a pseudo-terminal berth allocates as the runtime's standard streams and controlling
 * terminal (the runtime relays it to the terminal it creates for the process); attach sessions
 * connect to the container's conmon.
 */
public final class ProcessExecBackend implements ExecBackend {
    /** The command line to run for a request, and what to do to kill and release it. */
    public interface Launcher {
        Launch prepare(StreamRequest.Exec request);
    }

    /**
     * A prepared command line; {@code kill} stops what it runs, {@code release} frees its files.
     * With {@code tty} the command runs with a terminal as its standard streams.
     */
    public record Launch(List<String> argv, Runnable kill, Runnable release, boolean tty, boolean stdin) {
        public Launch(List<String> argv, Runnable kill, Runnable release) {
            this(argv, kill, release, false, false);
        }
    }

    /** How long a kill waits for the runtime to record the pid of the process it started. */
    static final Duration PID_WAIT = Duration.ofSeconds(5);
    /** Runs a command as a session leader whose controlling terminal is its stdin, and waits for it. */
    private static final List<String> SETSID = List.of("setsid", "--ctty", "--wait");

    private final Launcher launcher;
    private final ContainerManager containers;

    public ProcessExecBackend(Launcher launcher) {
        this(launcher, null);
    }

    private ProcessExecBackend(Launcher launcher, ContainerManager containers) {
        this.launcher = launcher;
        this.containers = containers;
    }

    /** Exec through the container's OCI runtime ({@code runc/crun exec}), attach through conmon. */
    public static ProcessExecBackend runtime(ContainerManager containers) {
        return new ProcessExecBackend(req -> {
            StreamRequest.TerminalSize size = req.initialSize();
            PreparedExec p = containers.prepareExec(req.containerId(), req.cmd(), req.tty(),
                    size == null ? 0 : size.width(), size == null ? 0 : size.height());
            return new Launch(p.argv(), () -> p.kill(PID_WAIT), p::release, p.tty(), req.stdin());
        }, containers);
    }

    @Override
    public Session start(StreamRequest.Exec request) {
        Launch launch = launcher.prepare(request);
        if (launch.tty()) {
            return startWithTerminal(launch, request.initialSize());
        }
        Process p;
        try {
            p = new ProcessBuilder(launch.argv()).start();
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
    private Session startWithTerminal(Launch launch, StreamRequest.TerminalSize size) {
        Terminal terminal;
        try {
            terminal = Terminal.open();
            if (size != null) {
                // the runtime copies its terminal's size to the process's at the start
                terminal.resize(size.width(), size.height());
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
            p = new ProcessBuilder(argv)
                    .redirectInput(ProcessBuilder.Redirect.from(slave))
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(slave))
                    .redirectError(ProcessBuilder.Redirect.appendTo(slave))
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

    @Override
    public Session attach(StreamRequest.Attach request) {
        if (containers == null) {
            return ExecBackend.super.attach(request);
        }
        ContainerAttachment a = containers.attach(request.containerId());
        return new Session() {
            @Override
            public OutputStream stdin() {
                // closing the attachment's stdin ends the container's stdin (stdin-once): only a client that asked for it may
                return request.stdin() ? a.stdin() : OutputStream.nullOutputStream();
            }

            @Override
            public InputStream stdout() {
                return a.stdout();
            }

            @Override
            public InputStream stderr() {
                // a terminal carries both streams on stdout
                return request.tty() ? null : a.stderr();
            }

            @Override
            public CompletableFuture<Integer> exit() {
                return a.exit();
            }

            @Override
            public void kill() {
                a.detach();
            }

            @Override
            public void resize(int width, int height) {
                if (request.tty()) {
                    a.resize(width, height);
                }
            }
        };
    }
}
