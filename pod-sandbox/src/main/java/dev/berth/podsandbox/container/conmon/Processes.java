package dev.berth.podsandbox.container.conmon;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Host processes seen through /proc, identified by pid and start time so a reused pid is not mistaken. */
public final class Processes {
    private Processes() {
    }

    /**
     * The process's start time (clock ticks since boot, /proc/PID/stat field 22), or -1 if
     * there is no such process or it is a zombie.
     */
    public static long startTime(long pid) {
        if (pid <= 0) {
            return -1;
        }
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            int close = stat.lastIndexOf(')');
            String[] f = stat.substring(close + 2).split(" ");
            if (f[0].equals("Z") || f[0].equals("X")) {
                return -1;
            }
            return Long.parseLong(f[19]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    public static boolean alive(long pid, long startTime) {
        return pid > 0 && startTime > 0 && startTime(pid) == startTime;
    }

    /** Sends a signal with kill(1); false if the process did not exist. */
    public static boolean kill(long pid, int signal) {
        return pid > 0 && sendSignal(signal, Long.toString(pid));
    }

    /** Sends a signal to every process of the process group {@code pgid}. */
    public static boolean killGroup(long pgid, int signal) {
        return pgid > 1 && sendSignal(signal, "-" + pgid);
    }

    private static boolean sendSignal(int signal, String target) {
        try {
            Process p = new ProcessBuilder(List.of("kill", "-" + signal, "--", target))
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
