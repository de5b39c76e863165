package dev.berth.agent.streaming;

import dev.berth.common.BerthException;
import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.PreparedExec;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Exec sessions as child processes with pipes: {@link #runtime(ContainerManager)} runs the OCI
 * runtime's {@code exec} in the container; the launcher decides the command line.
 */
public final class ProcessExecBackend implements ExecBackend {
    /** The command line to run for a request, and what to do to kill and release it. */
    public interface Launcher {
        Launch prepare(StreamRequest.Exec request);
    }

    /** A prepared command line; {@code kill} stops what it runs, {@code release} frees its files. */
    public record Launch(List<String> argv, Runnable kill, Runnable release) {
    }

    /** How long a kill waits for the runtime to record the pid of the process it started. */
    static final java.time.Duration PID_WAIT = java.time.Duration.ofSeconds(5);

    private final Launcher launcher;

    public ProcessExecBackend(Launcher launcher) {
        this.launcher = launcher;
    }

    /** Exec through the container's OCI runtime ({@code runc/crun exec}), non-TTY. */
    public static ProcessExecBackend runtime(ContainerManager containers) {
        return new ProcessExecBackend(req -> {
            PreparedExec p = containers.prepareExec(req.containerId(), req.cmd());
            return new Launch(p.argv(), () -> p.kill(PID_WAIT), p::release);
        });
    }

    @Override
    public Session start(StreamRequest.Exec request) {
        Launch launch = launcher.prepare(request);
        Process p;
        try {
            p = new ProcessBuilder(launch.argv()).start();
        } catch (IOException e) {
            launch.release().run();
            throw BerthException.unavailable("cannot run %s: %s", launch.argv().get(0), e.getMessage());
        }
        CompletableFuture<Integer> exit = p.onExit().thenApply(Process::exitValue);
        exit.whenComplete((c, t) -> launch.release().run());
        return new Session() {
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

            @Override
            public CompletableFuture<Integer> exit() {
                return exit;
            }

            @Override
            public void kill() {
                if (p.isAlive()) {
                    // off the caller's thread (an event loop): waiting for the pid file may take a moment
                    Thread t = new Thread(() -> {
                        launch.kill().run();
                        p.destroyForcibly();
                    }, "berth-exec-kill");
                    t.setDaemon(true);
                    t.start();
                }
            }
        };
    }
}
