package dev.berth.podsandbox.container;

import dev.berth.common.BerthException;
import dev.berth.host.Command;
import dev.berth.host.HostProcesses;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One ExecSync: the runtime's {@code exec} as a child of berth (the JDK reaps it; the runtime
 * reaps the process it runs in the container). On timeout the process in the container (and
 * its process group) is killed by the pid the runtime recorded, then the runtime itself.
 */
final class ExecProcess {
    private static final Duration DRAIN_AFTER_EXIT = Duration.ofSeconds(2);
    /** How long a timed-out exec may take to report the pid of its process. */
    private static final Duration PID_FILE_WAIT = Duration.ofSeconds(10);

    private final List<String> argv;
    private final Path pidFile;
    private final long cap;
    private final HostProcesses processes;

    ExecProcess(List<String> argv, Path pidFile, long cap, HostProcesses processes) {
        this.argv = argv;
        this.pidFile = pidFile;
        this.cap = cap;
        this.processes = processes;
    }

    ExecResult run(Duration timeout, String containerId, List<String> cmd) {
        Command.Result r;
        try {
            // a background child of the command may hold the pipes open: do not wait for it forever
            r = Command.of(argv).timeout(timeout).outputCap(cap).drainAfterExit(DRAIN_AFTER_EXIT)
                    .onTimeout(this::killExecd).execute();
        } catch (IOException e) {
            throw BerthException.unavailable("cannot run %s: %s", argv.get(0), e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted exec in " + containerId, e);
        }
        if (r.timedOut()) {
            throw BerthException.deadlineExceeded("command %s in container %s timed out after %s and was killed",
                    cmd, containerId, timeout);
        }
        return new ExecResult(r.exitCode(), withNote(r.out(), r.outTruncated()), withNote(r.err(), r.errTruncated()),
                r.outTruncated(), r.errTruncated());
    }

    /**
     * Kills the timed-out process in the container, then the runtime. The runtime writes the pid
     * file only once the process runs: on a slow machine the deadline can come first, so wait
     * for the file (while the runtime lives, within a bound) rather than kill only the runtime
     * and leave the process running in the container; and read it once more after the runtime
     * is gone.
     */
    private void killExecd(Process runtime) throws InterruptedException {
        long deadline = System.nanoTime() + PID_FILE_WAIT.toNanos();
        long pid = readPid();
        while (pid <= 0 && runtime.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(10);
            pid = readPid();
        }
        kill(pid);
        if (!runtime.waitFor(5, TimeUnit.SECONDS)) {
            runtime.destroyForcibly();
            runtime.waitFor();
        }
        if (pid <= 0) {
            kill(readPid());
        }
    }

    private void kill(long pid) {
        if (pid > 0) {
            processes.signalGroup(pid, 9);
            processes.signal(pid, 9);
        }
    }

    private long readPid() {
        try {
            return Long.parseLong(Files.readString(pidFile).trim());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    /** The captured stream, with a note appended when it was cut at the cap. */
    private byte[] withNote(byte[] kept, boolean truncated) {
        if (!truncated) {
            return kept;
        }
        byte[] note = ("\n[berth: output truncated after " + cap + " bytes]\n").getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream o = new ByteArrayOutputStream(kept.length + note.length);
        o.write(kept, 0, kept.length);
        o.write(note, 0, note.length);
        return o.toByteArray();
    }
}
