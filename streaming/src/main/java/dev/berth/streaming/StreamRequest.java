package dev.berth.streaming;

import dev.berth.common.BerthException;
import java.util.List;

/** What a one-time streaming URL was issued for. */
public sealed interface StreamRequest permits StreamRequest.Command, StreamRequest.PortForward {
    /** The first path segment of the URL. */
    String kind();

    /** A remotecommand session (exec or attach): the container and the streams the caller asked for. */
    sealed interface Command extends StreamRequest permits Exec, Attach {
        String containerId();

        boolean tty();

        boolean stdin();

        boolean stdout();

        boolean stderr();
    }

    /** A terminal's size in characters. */
    record TerminalSize(int width, int height) {
    }

    /**
     * A command to run in a running container, with the streams the caller asked for; a TTY
     * exec may carry the terminal's size the process starts with ({@code null}: none yet).
     */
    record Exec(String containerId, List<String> cmd, boolean tty, boolean stdin, boolean stdout, boolean stderr,
            TerminalSize initialSize) implements Command {
        public Exec(String containerId, List<String> cmd, boolean tty, boolean stdin, boolean stdout, boolean stderr) {
            this(containerId, cmd, tty, stdin, stdout, stderr, null);
        }

        /** This request with the size its terminal starts with. */
        public Exec withInitialSize(TerminalSize size) {
            return new Exec(containerId, cmd, tty, stdin, stdout, stderr, size);
        }

        public Exec {
            if (containerId == null || containerId.isEmpty()) {
                throw BerthException.invalidArgument("exec: container id is empty");
            }
            if (cmd == null || cmd.isEmpty()) {
                throw BerthException.invalidArgument("exec: command is empty");
            }
            if (!stdin && !stdout && !stderr) {
                throw BerthException.invalidArgument("exec: one of stdin, stdout or stderr must be requested");
            }
            if (tty && stderr) {
                // a terminal carries stdout and stderr as one stream
                throw BerthException.invalidArgument("exec: tty and stderr cannot both be requested");
            }
            cmd = List.copyOf(cmd);
        }

        @Override
        public String kind() {
            return "exec";
        }
    }

    /**
     * A connection to the standard streams of a running container's own process. With a TTY,
     * the container's terminal carries stdout and stderr together.
     */
    record Attach(String containerId, boolean tty, boolean stdin, boolean stdout, boolean stderr) implements Command {
        public Attach {
            if (containerId == null || containerId.isEmpty()) {
                throw BerthException.invalidArgument("attach: container id is empty");
            }
            if (!stdin && !stdout && !stderr) {
                throw BerthException.invalidArgument("attach: one of stdin, stdout or stderr must be requested");
            }
            if (tty && stderr) {
                throw BerthException.invalidArgument("attach: tty and stderr cannot both be requested");
            }
        }

        @Override
        public String kind() {
            return "attach";
        }
    }

    /**
     * Connections to ports on the pod's loopback, inside the network namespace at
     * {@code netnsPath}; for a pod that shares the host's network ({@code hostNetwork}, no
     * namespace of its own), in berth's own network namespace, which is the one such a pod's
     * containers join. {@code ports} limits which ports may be asked for; empty allows any.
     */
    record PortForward(String sandboxId, String netnsPath, List<Integer> ports, boolean hostNetwork)
            implements StreamRequest {
        /** Port forwarding into the pod network namespace at {@code netnsPath}. */
        public PortForward(String sandboxId, String netnsPath, List<Integer> ports) {
            this(sandboxId, netnsPath, ports, false);
        }

        /** Port forwarding to a pod that shares the host's network namespace. */
        public static PortForward toHostNetwork(String sandboxId, List<Integer> ports) {
            return new PortForward(sandboxId, null, ports, true);
        }

        public PortForward {
            if (hostNetwork) {
                if (netnsPath != null && !netnsPath.isEmpty()) {
                    throw BerthException.invalidArgument("port-forward: sandbox %s shares the host's network but names"
                            + " the network namespace %s", sandboxId, netnsPath);
                }
                netnsPath = null;
            } else if (netnsPath == null || netnsPath.isEmpty()) {
                // a pod network pod without its namespace must never be served from the host's
                throw BerthException.failedPrecondition("port-forward: sandbox %s has no network namespace", sandboxId);
            }
            ports = List.copyOf(ports);
            for (int p : ports) {
                if (p < 1 || p > 65535) {
                    throw BerthException.invalidArgument("port-forward: port %d is out of range", p);
                }
            }
        }

        @Override
        public String kind() {
            return "portforward";
        }
    }
}
