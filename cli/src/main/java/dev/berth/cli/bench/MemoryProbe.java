package dev.berth.cli.bench;

import java.io.IOException;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The runtime's memory as the bench reports it: the PSS of the daemon (the process serving the
 * socket) and of its helpers. A helper is a process whose name is one of {@code helperNames}
 * that is the daemon or descends from it, or is (or descends from) a process whose command line
 * names a pod sandbox or container this run created: conmon and containerd's shims name their
 * container or sandbox in their arguments and are re-parented away from the daemon, catatonit and
 * pause run below them. Another user's processes of the same names name other ids and are not
 * counted.
 */
final class MemoryProbe {
    private final ProcFs proc;
    private final long daemonPid;
    private final List<String> helperNames;

    MemoryProbe(ProcFs proc, long daemonPid, List<String> helperNames) {
        this.proc = proc;
        this.daemonPid = daemonPid;
        this.helperNames = List.copyOf(helperNames);
    }

    long daemonPid() {
        return daemonPid;
    }

    /** Measures now. {@code ids}: the sandbox and container ids this run created so far. */
    Results.MemoryPoint measure(String label, int pods, Collection<String> ids) {
        long daemon = proc.pssBytes(daemonPid);
        long helpers = 0;
        int count = 0;
        try {
            Map<Long, ProcFs.Proc> all = proc.processes();
            for (long pid : helpers(all, daemonPid, helperNames, ids)) {
                long pss = proc.pssBytes(pid);
                if (pss > 0) {
                    helpers += pss;
                    count++;
                }
            }
        } catch (IOException e) {
            helpers = -1;
        }
        return new Results.MemoryPoint(label, pods, daemon, helpers, count);
    }

    /** The pids of {@code all} that count as helpers under the rule above (never the daemon itself). */
    static Set<Long> helpers(Map<Long, ProcFs.Proc> all, long daemonPid, List<String> names, Collection<String> ids) {
        Set<Long> anchors = new HashSet<>();
        anchors.add(daemonPid);
        for (ProcFs.Proc p : all.values()) {
            String line = String.join(" ", p.cmdline());
            for (String id : ids) {
                if (!id.isEmpty() && line.contains(id)) {
                    anchors.add(p.pid());
                    break;
                }
            }
        }
        Set<Long> out = new HashSet<>();
        for (ProcFs.Proc p : all.values()) {
            if (p.pid() != daemonPid && named(p, names) && underAnchor(p, all, anchors)) {
                out.add(p.pid());
            }
        }
        return out;
    }

    private static boolean underAnchor(ProcFs.Proc p, Map<Long, ProcFs.Proc> all, Set<Long> anchors) {
        ProcFs.Proc at = p;
        for (int depth = 0; at != null && depth < 64; depth++) {
            if (anchors.contains(at.pid())) {
                return true;
            }
            at = all.get(at.ppid());
        }
        return false;
    }

    /** The kernel keeps 15 bytes of a name in {@code comm}: containerd-shim-runc-v2 reads as containerd-shim; the first argument's file name says the rest. */
    static boolean named(ProcFs.Proc p, List<String> names) {
        String argv0 = p.cmdline().isEmpty() ? "" : p.cmdline().get(0);
        String base = argv0.substring(argv0.lastIndexOf('/') + 1);
        for (String n : names) {
            if (base.equals(n) || p.comm().equals(n.length() > 15 ? n.substring(0, 15) : n)) {
                return true;
            }
        }
        return false;
    }
}
