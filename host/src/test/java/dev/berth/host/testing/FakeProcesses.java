package dev.berth.host.testing;

import dev.berth.host.HostProcesses;
import dev.berth.host.ProcessIdentity;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A process table in memory: a test starts processes ({@link #spawn}), SIGKILL and SIGTERM end
 * them (or only SIGKILL for one that ignores SIGTERM), a process may be given a command name, every signal is recorded, and
 * {@link #running()} shows what is left. Start times grow, so a reused pid is a new identity.
 */
public final class FakeProcesses implements HostProcesses {
    /** One signal sent: to a process, or to a process group when {@code group}. */
    public record Signal(long pid, int signal, boolean group) {
    }

    private static final int SIGKILL = 9;
    private static final int SIGTERM = 15;

    private final Map<Long, Entry> table = new LinkedHashMap<>();
    private final List<Signal> signals = new ArrayList<>();
    private long clock = 1000;

    private record Entry(long startTime, long pgid, boolean ignoresTerm, String command, List<String> argv) {
    }

    /** A new running process {@code pid} in its own process group. */
    public synchronized ProcessIdentity spawn(long pid) {
        return spawn(pid, pid, false);
    }

    /** A new running process in process group {@code pgid}; one that {@code ignoresTerm} only dies of SIGKILL. */
    public synchronized ProcessIdentity spawn(long pid, long pgid, boolean ignoresTerm) {
        return spawn(pid, pgid, ignoresTerm, "");
    }

    /** A new running process whose command name ({@link #command}) is {@code command}. */
    public synchronized ProcessIdentity spawn(long pid, String command) {
        return spawn(pid, pid, false, command);
    }

    private ProcessIdentity spawn(long pid, long pgid, boolean ignoresTerm, String command) {
        return spawn(pid, pgid, ignoresTerm, command, List.of(command));
    }

    /** A new running process with the command line {@code argv} ({@link #commandLine}); its command name is argv[0]'s base name. */
    public synchronized ProcessIdentity spawnArgs(long pid, List<String> argv) {
        String name = argv.isEmpty() ? "" : argv.get(0).substring(argv.get(0).lastIndexOf('/') + 1);
        return spawn(pid, pid, false, name, List.copyOf(argv));
    }

    private ProcessIdentity spawn(long pid, long pgid, boolean ignoresTerm, String command, List<String> argv) {
        Entry e = new Entry(++clock, pgid, ignoresTerm, command, argv);
        table.put(pid, e);
        return new ProcessIdentity(pid, e.startTime());
    }

    /** The process ends on its own (it is reaped: no zombie is left). */
    public synchronized void exit(long pid) {
        table.remove(pid);
    }

    public synchronized List<ProcessIdentity> running() {
        return table.entrySet().stream().map(e -> new ProcessIdentity(e.getKey(), e.getValue().startTime())).toList();
    }

    public synchronized List<Signal> signals() {
        return List.copyOf(signals);
    }

    @Override
    public synchronized long startTime(long pid) {
        Entry e = table.get(pid);
        return pid > 0 && e != null ? e.startTime() : -1;
    }

    @Override
    public synchronized Optional<String> command(long pid) {
        Entry e = table.get(pid);
        return e == null ? Optional.empty() : Optional.of(e.command());
    }

    @Override
    public synchronized Optional<List<String>> commandLine(long pid) {
        Entry e = table.get(pid);
        return e == null ? Optional.empty() : Optional.of(e.argv());
    }

    @Override
    public synchronized List<Long> pids() {
        return List.copyOf(table.keySet());
    }

    @Override
    public synchronized boolean signal(long pid, int signal) {
        if (pid <= 0) {
            return false;
        }
        signals.add(new Signal(pid, signal, false));
        Entry e = table.get(pid);
        if (e == null) {
            return false;
        }
        deliver(pid, e, signal);
        return true;
    }

    @Override
    public synchronized boolean signalGroup(long pgid, int signal) {
        if (pgid <= 1) {
            return false;
        }
        signals.add(new Signal(pgid, signal, true));
        List<Long> members = table.entrySet().stream().filter(e -> e.getValue().pgid() == pgid).map(Map.Entry::getKey).toList();
        members.forEach(pid -> deliver(pid, table.get(pid), signal));
        return !members.isEmpty();
    }

    private void deliver(long pid, Entry e, int signal) {
        if (signal == SIGKILL || (signal == SIGTERM && !e.ignoresTerm())) {
            table.remove(pid);
        }
    }
}
