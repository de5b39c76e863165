package dev.berth.host;

/**
 * A process named by pid and start time (clock ticks since boot, field 22 of /proc/PID/stat), so
 * that a recycled pid is never mistaken for the process berth started (see {@link HostProcesses}).
 */
public record ProcessIdentity(long pid, long startTime) {
}
