package dev.berth.podsandbox.oci;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The OCI runtime (runc, crun) of one CRI runtime handler, for both lifecycles: a pod's infra
 * process is run detached ({@link #runDetached}); a container is created under a monitor that
 * outlives berth and reports its exit in a file ({@link #create}), then started, signalled,
 * updated and deleted. Its state lives apart from any other user of the same binary.
 * {@link ConmonRuntime} runs the binary; the tests' {@code FakeOciRuntime} keeps containers in
 * memory.
 */
public interface OciRuntime {
    /** The CRI runtime handler name ("runc", "crun"). */
    String handler();

    /** The runtime binary as configured (a path or a name on PATH); recorded with each sandbox. */
    String binary();

    /** The runtime binary berth runs (for verbose status). */
    Path runtimeBinary();

    // ---------------------------------------------------------------- the infra process

    /**
     * {@code run -d}: creates and starts the container of {@code bundle}, detached; returns the
     * pid of its process. The container's stdio goes to {@code output} (never to a pipe berth
     * would wait on).
     */
    long runDetached(String id, Path bundle, Path output);

    /** {@code delete --force}: kills the container's processes and forgets it. Idempotent. */
    void forceDelete(String id);

    /** Whether the runtime still knows the container. */
    boolean exists(String id);

    // ---------------------------------------------------------------- containers under a monitor

    /** What {@link #create} started: the container's init pid and its monitor's pid. */
    record Created(long pid, long conmonPid) {
    }

    /** Where the monitor keeps what it needs for one container. */
    record Layout(Path bundle, Path logPath, Path exitDir, Path socketDir) {
        public Path pidFile() {
            return bundle.resolve("pidfile");
        }

        public Path conmonPidFile() {
            return bundle.resolve("conmon.pid");
        }

        public Path ctlFifo() {
            return bundle.resolve("ctl");
        }

        /**
         * The empty file conmon creates in its working directory (berth starts it in the bundle)
         * when the kernel reports an OOM event in the container's cgroup.
         */
        public Path oomFile() {
            return bundle.resolve("oom");
        }

        public Path conmonStderr() {
            return bundle.resolve("conmon.stderr");
        }

        /** Where the monitor writes the container's exit code when it ends. */
        public Path exitFile(String id) {
            return exitDir.resolve(id);
        }
    }

    /**
     * Creates the container of {@code layout}'s bundle under a monitor (not started); on failure
     * nothing of it is left.
     */
    Created create(String id, Layout layout, boolean terminal, boolean stdin, boolean stdinOnce, Duration timeout);

    void start(String id);

    /**
     * The container's status as the runtime has it ({@code state}: "created", "running",
     * "paused", "stopped"); empty when the runtime does not know the container. Tells berth
     * whether a container whose record says CREATED was started before berth stopped.
     */
    java.util.Optional<String> status(String id);

    /** Sends a signal to the container's init; false (not an error) when it is already gone. */
    boolean kill(String id, String signal);

    /** Forcibly deletes the runtime's state for the container; an unknown container is fine. */
    void delete(String id);

    /** Applies resources (OCI linux.resources JSON) to a running container. */
    void update(String id, Path resourcesJson);

    /** The runtime's {@code exec} command line for a process spec, recording the process's pid. */
    List<String> execCommand(String id, Path processJson, Path pidFile);
}
