package dev.berth.agent.streaming;

import dev.berth.common.BerthException;
import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.PreparedExec;
import dev.berth.podsandbox.container.stdio.ConsoleSocket;
import dev.berth.podsandbox.container.stdio.ContainerAttachment;
import dev.berth.podsandbox.container.stdio.Terminal;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Exec sessions as child processes: {@link #runtime(ContainerManager)} runs the OCI runtime's
 * {@code exec} in the container (the launcher decides the command line) with pipes, or for a
 * TTY with the terminal the runtime hands over its console socket; attach sessions connect to
 * the container's conmon.
 */
public final class ProcessExecBackend implements ExecBackend {
    /** The command line to run for a request, and what to do to kill and release it. */
    public interface Launcher {
        Launch prepare(StreamRequest.Exec request);
    }

    /**
     * A prepared command line; {@code kill} stops what it runs, {@code release} frees its files.
     * With a {@code consoleSocket} the command runs with a terminal that it sends there.
     */
    public record Launch(List<String> argv, Runnable kill, Runnable release, Path consoleSocket) {
        public Launch(List<String> argv, Runnable kill, Runnable release) {
            this(argv, kill, release, null);
        }
    }

    /** How long a kill waits for the runtime to record the pid of the process it started. */
    static final Duration PID_WAIT = Duration.ofSeconds(5);
    /** How long the runtime may take to hand over a TTY exec's terminal. */
    static final Duration TERMINAL_WAIT = Duration.ofSeconds(30);
    private static final int DIAGNOSTIC_CAP = 4096;

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
            PreparedExec p = containers.prepareExec(req.containerId(), req.cmd(), req.tty());
            return new Launch(p.argv(), () -> p.kill(PID_WAIT), p::release, p.consoleSocket());
        }, containers);
    }

    @Override
    public Session start(StreamRequest.Exec request) {
        Launch launch = launcher.prepare(request);
        if (launch.consoleSocket() != null) {
            return startWithTerminal(launch);
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
     * A TTY exec: berth listens on the console socket, runs the runtime (which keeps running as
     * the process's parent and exits with its status) and receives the terminal; the terminal's
     * output is the session's stdout, its input the session's stdin.
     */
    private Session startWithTerminal(Launch launch) {
        ConsoleSocket socket;
        try {
            socket = ConsoleSocket.listen(launch.consoleSocket());
        } catch (RuntimeException e) {
            launch.release().run();
            throw e;
        }
        Process p;
        try {
            p = new ProcessBuilder(launch.argv())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
        } catch (IOException e) {
            socket.close();
            launch.release().run();
            throw BerthException.unavailable("cannot run %s: %s", launch.argv().get(0), e.getMessage());
        }
        ByteArrayOutputStream diagnostic = new ByteArrayOutputStream();
        Thread errors = drain(p.getErrorStream(), diagnostic);
        Terminal terminal;
        try {
            terminal = socket.receive(TERMINAL_WAIT, p::isAlive);
        } catch (RuntimeException e) {
            p.destroyForcibly();
            try {
                p.waitFor(5, TimeUnit.SECONDS);
                errors.join(1000);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
            launch.release().run();
            String why;
            synchronized (diagnostic) {
                why = diagnostic.toString(StandardCharsets.UTF_8).strip();
            }
            throw BerthException.unavailable("cannot start a TTY exec: %s%s", e.getMessage(),
                    why.isEmpty() ? "" : " (" + why + ")");
        }
        CompletableFuture<Integer> exit = p.onExit().thenApply(Process::exitValue);
        exit.whenComplete((c, t) -> launch.release().run());
        return new ProcessSession(p, launch, exit) {
            @Override
            public OutputStream stdin() {
                return terminal.input();
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

    /** Copies what the runtime says on stderr into {@code into} (capped), for error messages. */
    private static Thread drain(InputStream in, ByteArrayOutputStream into) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[1024];
            try (in) {
                int n;
                while ((n = in.read(buf)) >= 0) {
                    synchronized (into) {
                        if (into.size() < DIAGNOSTIC_CAP) {
                            into.write(buf, 0, Math.min(n, DIAGNOSTIC_CAP - into.size()));
                        }
                    }
                }
            } catch (IOException e) {
                // the runtime exited
            }
        }, "berth-exec-stderr");
        t.setDaemon(true);
        t.start();
        return t;
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
