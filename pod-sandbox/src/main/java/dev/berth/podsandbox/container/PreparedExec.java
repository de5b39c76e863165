package dev.berth.podsandbox.container;

import dev.berth.host.HostProcesses;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A runtime {@code exec} ready to run: its command line, and the process spec and pid file it
 * uses, which {@link #release()} removes once the process has ended. A TTY exec ({@code tty})
 * expects the caller to run the command line with a terminal as its standard streams (and
 * controlling terminal), which the runtime relays to the process's own terminal. {@link #kill}
 * signals through {@code processes}.
 */
public record PreparedExec(List<String> argv, Path processJson, Path pidFile, boolean tty, HostProcesses processes) {
    public PreparedExec {
        argv = List.copyOf(argv);
    }

    /** The pid of the process in the container as the runtime recorded it, or -1 before that. */
    public long pid() {
        try {
            return Long.parseLong(Files.readString(pidFile).trim());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    /**
     * Kills the process in the container (and its process group) with SIGKILL. The runtime
     * writes the pid file only after the process has started (it may already be running and
     * printing by then), so this waits up to {@code waitForPid} for it; call it while the
     * runtime's exec is still running, and kill the runtime afterwards.
     */
    public void kill(java.time.Duration waitForPid) {
        long deadline = System.nanoTime() + waitForPid.toNanos();
        long pid = pid();
        while (pid <= 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            pid = pid();
        }
        if (pid > 0) {
            processes.signalGroup(pid, 9);
            processes.signal(pid, 9);
        }
    }

    /** Removes the process spec and pid file; idempotent. */
    public void release() {
        try {
            Files.deleteIfExists(processJson);
            Files.deleteIfExists(pidFile);
        } catch (IOException e) {
            // the bundle is removed with the container anyway
        }
    }
}
