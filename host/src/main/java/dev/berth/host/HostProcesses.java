package dev.berth.host;

import java.util.Optional;

/**
 * Host processes berth started (conmon, the infra process, exec'd processes), named by pid
 * and start time so a reused pid is not mistaken, and signalled. {@link LinuxProcesses} reads
 * /proc and calls kill(2); the test-jar's {@code FakeProcesses} keeps a process table in memory.
 */
public interface HostProcesses {
    /**
     * The process's start time (clock ticks since boot, /proc/PID/stat field 22), or -1 if
     * there is no such process or it is a zombie.
     */
    long startTime(long pid);

    /** The command name of the process (/proc/PID/comm); empty when there is no such process. */
    Optional<String> command(long pid);

    /** The process's arguments (/proc/PID/cmdline); empty when there is no such process. */
    default Optional<java.util.List<String>> commandLine(long pid) {
        return Optional.empty();
    }

    /** The pids of the processes that exist now (a snapshot: any may be gone by the time it is used). */
    default java.util.List<Long> pids() {
        return java.util.List.of();
    }

    /** Sends {@code signal} to {@code pid}; false if the process did not exist. */
    boolean signal(long pid, int signal);

    /** Sends {@code signal} to every process of the process group {@code pgid}; false if there was none. */
    boolean signalGroup(long pgid, int signal);

    /** True while the very process (same pid, same start time) exists and is not a zombie. */
    default boolean alive(long pid, long startTime) {
        return pid > 0 && startTime > 0 && startTime(pid) == startTime;
    }

    default boolean alive(ProcessIdentity p) {
        return alive(p.pid(), p.startTime());
    }

    /** The identity of the running process {@code pid}; empty when there is none (or a zombie). */
    default Optional<ProcessIdentity> identify(long pid) {
        long t = startTime(pid);
        return t > 0 ? Optional.of(new ProcessIdentity(pid, t)) : Optional.empty();
    }
}
