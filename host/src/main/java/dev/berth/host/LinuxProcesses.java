package dev.berth.host;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import java.nio.charset.StandardCharsets;

/** Host processes seen through /proc and signalled with kill(2) (no kill(1) process per signal). */
public final class LinuxProcesses implements HostProcesses {
    public static final LinuxProcesses INSTANCE = new LinuxProcesses();

    private LinuxProcesses() {
    }

    @Override
    public long startTime(long pid) {
        if (pid <= 0) {
            return -1;
        }
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            // fields after "pid (comm)": state is [0], starttime is [19]; comm may hold spaces and parentheses
            int close = stat.lastIndexOf(')');
            String[] f = stat.substring(close + 2).trim().split(" ");
            if (f[0].equals("Z") || f[0].equals("X")) {
                return -1;
            }
            return Long.parseLong(f[19]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    @Override
    public Optional<String> command(long pid) {
        if (pid <= 0) {
            return Optional.empty();
        }
        try {
            return Optional.of(Files.readString(Path.of("/proc", Long.toString(pid), "comm")).strip());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    @Override
    public Optional<List<String>> commandLine(long pid) {
        if (pid <= 0) {
            return Optional.empty();
        }
        try {
            byte[] raw = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline"));
            List<String> args = new ArrayList<>();
            int from = 0;
            for (int i = 0; i < raw.length; i++) {
                if (raw[i] == 0) {
                    args.add(new String(raw, from, i - from, StandardCharsets.UTF_8));
                    from = i + 1;
                }
            }
            if (from < raw.length) {
                args.add(new String(raw, from, raw.length - from, StandardCharsets.UTF_8));
            }
            return Optional.of(args);
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    @Override
    public List<Long> pids() {
        try (Stream<Path> s = Files.list(Path.of("/proc"))) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.chars().allMatch(Character::isDigit))
                    .map(Long::parseLong).toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    @Override
    public boolean signal(long pid, int signal) {
        return pid > 0 && pid <= Integer.MAX_VALUE && Libc.c().kill((int) pid, signal) == 0;
    }

    @Override
    public boolean signalGroup(long pgid, int signal) {
        return pgid > 1 && pgid <= Integer.MAX_VALUE && Libc.c().kill((int) -pgid, signal) == 0;
    }
}
