package dev.berth.host;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * A process named by pid and start time (clock ticks since boot, field 22 of /proc/PID/stat), so
 * that a recycled pid is never mistaken for the process berth started.
 */
public record ProcessIdentity(long pid, long startTime) {
    public static Optional<ProcessIdentity> of(long pid) {
        return startTimeOf(pid).map(t -> new ProcessIdentity(pid, t));
    }

    /** True while the very process (same pid, same start time) exists and is not a zombie. */
    public boolean alive() {
        Optional<String> stat = stat(pid);
        if (stat.isEmpty()) {
            return false;
        }
        String[] f = afterComm(stat.get());
        return f.length > 19 && !f[0].equals("Z") && !f[0].equals("X") && Long.parseLong(f[19]) == startTime;
    }

    private static Optional<Long> startTimeOf(long pid) {
        return stat(pid).map(ProcessIdentity::afterComm).filter(f -> f.length > 19).map(f -> Long.parseLong(f[19]));
    }

    private static Optional<String> stat(long pid) {
        try {
            return Optional.of(Files.readString(Path.of("/proc", Long.toString(pid), "stat")));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Fields after "pid (comm)": state is [0], starttime is [19]. comm may hold spaces and parentheses. */
    private static String[] afterComm(String stat) {
        int close = stat.lastIndexOf(')');
        return stat.substring(close + 2).trim().split(" ");
    }
}
