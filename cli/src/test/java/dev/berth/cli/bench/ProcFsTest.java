package dev.berth.cli.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcFsTest {
    @TempDir
    Path proc;

    static final String SMAPS_ROLLUP = """
            55d0c0a00000-7ffc8b1f5000 ---p 00000000 00:00 0                          [rollup]
            Rss:              171872 kB
            Pss:              123456 kB
            Pss_Anon:         110000 kB
            Pss_File:          13000 kB
            Pss_Shmem:           456 kB
            Shared_Clean:      12000 kB
            Private_Dirty:    110000 kB
            Swap:                  0 kB
            SwapPss:               0 kB
            """;

    @Test
    void pssIsTheRollupsPssLineInBytes() throws Exception {
        assertEquals(123456L * 1024, ProcFs.pssBytes(SMAPS_ROLLUP));
        assertEquals(-1, ProcFs.pssBytes(""));
        Files.createDirectories(proc.resolve("42"));
        Files.writeString(proc.resolve("42/smaps_rollup"), SMAPS_ROLLUP);
        assertEquals(123456L * 1024, new ProcFs(proc).pssBytes(42));
        assertEquals(-1, new ProcFs(proc).pssBytes(43));
    }

    static final String NET_UNIX = """
            Num       RefCount Protocol Flags    Type St Inode Path
            0000000000000000: 00000002 00000000 00010000 0001 01 1001 /run/containerd/containerd.sock
            0000000000000000: 00000003 00000000 00000000 0001 03 1002 /run/containerd/containerd.sock
            0000000000000000: 00000002 00000000 00010000 0001 01 2001 /tmp/x/run/.berth-bind/berth.sock
            0000000000000000: 00000002 00000000 00010000 0001 01 2002 /tmp/y/run/.berth-bind/berth.sock
            0000000000000000: 00000002 00000000 00010000 0005 01 3001 @/containerd-shim/abc.sock@
            0000000000000000: 00000003 00000000 00000000 0001 03 3002
            """;

    @Test
    void theListeningSocketIsFoundByItsPathOrWhereItWasBoundBeforeItMoved() {
        // the connected end (flags 0) under the same path is not the listener
        assertEquals(List.of(1001L), ProcFs.listeningInodes(NET_UNIX, Path.of("/run/containerd/containerd.sock")));
        // berth binds in a private directory beside the socket and moves it into place
        assertEquals(List.of(2001L), ProcFs.listeningInodes(NET_UNIX, Path.of("/tmp/x/run/berth.sock")));
        assertEquals(List.of(), ProcFs.listeningInodes(NET_UNIX, Path.of("/tmp/z/run/berth.sock")));
    }

    @Test
    void theSocketsOwnerIsTheProcessHoldingItsInode() throws Exception {
        Files.createDirectories(proc.resolve("net"));
        Files.writeString(proc.resolve("net/unix"), NET_UNIX);
        process(7, "socket:[1002]", "pipe:[5]"); // a client connected to containerd
        process(9, "/dev/null", "socket:[1001]"); // containerd
        process(12, "socket:[1001]"); // a child that inherited the listener: the lowest pid wins
        process(15, "socket:[2002]"); // another engineer's berth
        ProcFs fs = new ProcFs(proc);
        assertEquals(Optional.of(9L), fs.socketOwner(Path.of("/run/containerd/containerd.sock")));
        assertEquals(Optional.empty(), fs.socketOwner(Path.of("/tmp/x/run/berth.sock")));
        assertEquals(Optional.of(15L), fs.socketOwner(Path.of("/tmp/y/run/berth.sock")));
        assertEquals(Optional.empty(), fs.socketOwner(Path.of("/run/crio/crio.sock")));
    }

    private void process(long pid, String... fdTargets) throws Exception {
        Path fd = Files.createDirectories(proc.resolve(pid + "/fd"));
        for (int i = 0; i < fdTargets.length; i++) {
            Files.createSymbolicLink(fd.resolve(String.valueOf(i)), Path.of(fdTargets[i]));
        }
    }

    @Test
    void statLinesWithSpacesAndParenthesesInTheName() {
        String stat = "4242 (containerd-shim) S 1 4242 4242 0 -1 4194560 1200 0 0 0 15 7 0 0 20 0 11 0 987654 1234567 890 "
                + "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        ProcFs.Proc p = ProcFs.parseStat(4242, stat, "/usr/bin/containerd-shim-runc-v2\0-namespace\0k8s.io\0-id\0abc\0".getBytes(StandardCharsets.UTF_8));
        assertEquals(1, p.ppid());
        assertEquals("containerd-shim", p.comm());
        assertEquals(987654, p.startTicks());
        assertEquals(List.of("/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "abc"), p.cmdline());
        ProcFs.Proc odd = ProcFs.parseStat(5, "5 (a (b) c) R 3 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77 0 0", new byte[0]);
        assertEquals("a (b) c", odd.comm());
        assertEquals(3, odd.ppid());
        assertEquals(77, odd.startTicks());
    }

    @Test
    void helpersAreNamedProcessesUnderTheDaemonOrUnderAProcessNamingAnIdTheBenchMade() {
        List<String> names = List.of("conmon", "catatonit", "containerd-shim", "containerd-shim-runc-v2", "pause");
        Map<Long, ProcFs.Proc> all = Map.of(
                100L, proc(100, 1, "java", "/usr/bin/java", "-jar", "berth.jar"),
                // conmon of a bench container, re-parented to init, names the container
                200L, proc(200, 1, "conmon", "/usr/bin/conmon", "-c", "ctr1", "-u", "ctr1"),
                201L, proc(201, 200, "catatonit", "/catatonit", "-P"),
                202L, proc(202, 200, "sleep", "sleep", "3600"),
                // someone else's conmon, started whenever
                300L, proc(300, 1, "conmon", "/usr/bin/conmon", "-c", "other", "-u", "other"),
                // containerd's shim for a bench sandbox (comm cut to 15 bytes) and its pause
                400L, proc(400, 1, "containerd-shim", "/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "pod1"),
                401L, proc(401, 400, "pause", "/pause"),
                // a helper the daemon started itself
                500L, proc(500, 100, "catatonit", "/usr/bin/catatonit", "-P"),
                // not a helper name, though under the daemon
                501L, proc(501, 100, "runc", "runc", "create"));
        assertEquals(Set.of(200L, 201L, 400L, 401L, 500L), MemoryProbe.helpers(all, 100, names, Set.of("ctr1", "pod1")));
        assertEquals(Set.of(500L), MemoryProbe.helpers(all, 100, names, Set.of()));
        assertTrue(MemoryProbe.named(all.get(400L), List.of("containerd-shim-runc-v2")));
    }

    private static ProcFs.Proc proc(long pid, long ppid, String comm, String... args) {
        return new ProcFs.Proc(pid, ppid, comm, List.of(args), 0);
    }
}
