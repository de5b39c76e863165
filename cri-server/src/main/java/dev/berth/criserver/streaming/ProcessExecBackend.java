package dev.berth.criserver.streaming;

import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.ExecSessions;
import dev.berth.podsandbox.container.stdio.ContainerAttachment;
import dev.berth.streaming.ExecBackend;
import dev.berth.streaming.StreamRequest;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.concurrent.CompletableFuture;

/**
 * Exec and attach sessions for the streaming server: {@link #runtime(ContainerManager)} runs
 * the OCI runtime's {@code exec} in the container through {@link ExecSessions} (which starts
 * the process, with pipes or a terminal; the launcher decides the command line), and attach
 * sessions connect to the container's conmon. This class only adapts them to
 * {@link ExecBackend}.
 */
public final class ProcessExecBackend implements ExecBackend {
    /** The command line to run for a request, and what to do to kill and release it. */
    public interface Launcher {
        ExecSessions.Launch prepare(StreamRequest.Exec request);
    }

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
            return ExecSessions.prepare(containers, req.containerId(), req.cmd(), req.tty(), req.stdin(),
                    size == null ? 0 : size.width(), size == null ? 0 : size.height());
        }, containers);
    }

    @Override
    public Session start(StreamRequest.Exec request) {
        StreamRequest.TerminalSize size = request.initialSize();
        ExecSessions.Session s = ExecSessions.start(launcher.prepare(request),
                size == null ? 0 : size.width(), size == null ? 0 : size.height());
        return new Session() {
            @Override
            public OutputStream stdin() {
                return s.stdin();
            }

            @Override
            public InputStream stdout() {
                return s.stdout();
            }

            @Override
            public InputStream stderr() {
                return s.stderr();
            }

            @Override
            public CompletableFuture<Integer> exit() {
                return s.exit();
            }

            @Override
            public void kill() {
                s.kill();
            }

            @Override
            public void resize(int width, int height) {
                s.resize(width, height);
            }
        };
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
