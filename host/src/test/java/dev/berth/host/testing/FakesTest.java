package dev.berth.host.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.host.HostNamespaces.Kind;
import dev.berth.host.MountTable;
import dev.berth.host.ProcessIdentity;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The contracts of the in-memory fakes, as the real implementations keep them. */
class FakesTest {
    @TempDir
    Path dir;

    @Test
    void stackedMountsComeOffOneByOneAndAllAtOnce() {
        FakeMounts m = new FakeMounts();
        Path a = dir.resolve("a");
        m.tmpfs("shm", a, "size=1m");
        m.overlay(a, "lowerdir=x");
        m.bindPrivate(dir);
        assertEquals(3, m.mountCountUnder(dir));
        assertEquals(List.of(a, dir), m.mountPointsUnder(dir), "deepest first");
        assertEquals("overlay", m.containing(a.resolve("f")).fsType(), "the top of the stack holds the path");
        m.unmount(a);
        assertEquals("tmpfs", m.containing(a).fsType());
        m.unmount(dir.resolve("never-mounted"));
        m.unmountAllUnder(dir);
        assertEquals(List.of(), m.mounted());
        assertFalse(m.isMountPoint(a));
        assertNull(m.containing(a));
        m.unmountAllUnder(dir);
    }

    @Test
    void anInjectedFailureMountsNothingAndHitsOnce() {
        FakeMounts m = new FakeMounts();
        m.failNext("overlay");
        assertThrows(BerthException.class, () -> m.overlay(dir, "lowerdir=x"));
        assertEquals(List.of(), m.mounted());
        m.overlay(dir, "lowerdir=x");
        assertTrue(m.isMountPoint(dir));
        m.add(new MountTable.Mount(Path.of("/"), "ext4", "/dev/sda1", "shared:1"));
        assertTrue(m.containing(Path.of("/elsewhere")).shared());
    }

    @Test
    void pinsAreMountsAndGoWithThem() throws Exception {
        FakeMounts m = new FakeMounts();
        FakeNamespaces ns = new FakeNamespaces(m);
        Path net = Files.createFile(dir.resolve("net"));
        Path uts = Files.createFile(dir.resolve("uts"));
        ns.createPinned(Map.of(Kind.NET, net, Kind.UTS, uts), "pod-a");
        assertEquals(List.of(net, uts), ns.pinned());
        assertEquals("pod-a", ns.made().get(1).hostname());
        assertThrows(BerthException.class, () -> ns.createPinned(Map.of(Kind.IPC, dir.resolve("ipc")), null),
                "a pin needs an existing file");
        m.unmountAllUnder(dir);
        assertEquals(List.of(), ns.pinned());
        ns.failNext();
        assertThrows(BerthException.class, () -> ns.createPinned(Map.of(Kind.NET, net), null));
        assertEquals(List.of(), m.mounted());
    }

    @Test
    void processesEndBySignalAndAReusedPidIsANewProcess() {
        FakeProcesses p = new FakeProcesses();
        ProcessIdentity conmon = p.spawn(100);
        p.spawn(101, 100, true);
        p.spawn(102, 100, false);
        assertTrue(p.alive(conmon));
        assertEquals(conmon, p.identify(100).orElseThrow());
        assertTrue(p.signalGroup(100, 15));
        assertEquals(List.of(101L), p.running().stream().map(ProcessIdentity::pid).toList(), "101 ignores SIGTERM");
        assertTrue(p.signal(101, 9));
        assertFalse(p.signal(101, 9), "gone");
        assertEquals(List.of(), p.running());
        ProcessIdentity reused = p.spawn(100);
        assertFalse(p.alive(conmon), "same pid, later start time");
        assertTrue(p.alive(reused));
        p.exit(100);
        assertEquals(-1, p.startTime(100));
        assertFalse(p.signalGroup(1, 9), "never the init group");
        assertEquals(List.of(new FakeProcesses.Signal(100, 15, true), new FakeProcesses.Signal(101, 9, false),
                new FakeProcesses.Signal(101, 9, false)), p.signals());
    }

    @Test
    void aProcessHasTheCommandNameItWasSpawnedWithUntilItEnds() {
        FakeProcesses p = new FakeProcesses();
        p.spawn(7, "catatonit");
        p.spawn(8);
        assertEquals(java.util.Optional.of("catatonit"), p.command(7));
        assertEquals(java.util.Optional.of(""), p.command(8));
        p.exit(7);
        assertEquals(java.util.Optional.empty(), p.command(7));
    }

    @Test
    void procSysWritesNeedPinnedNamespacesAndCanBeMadeToFail() throws Exception {
        FakeMounts m = new FakeMounts();
        FakeNamespaces ns = new FakeNamespaces(m);
        Path net = Files.createFile(dir.resolve("net"));
        Map<String, String> files = Map.of("/proc/sys/net/ipv4/ip_forward", "1");
        assertThrows(BerthException.class, () -> ns.writeProcSys(Map.of(Kind.NET, net), files), "not pinned yet");
        ns.createPinned(Map.of(Kind.NET, net), "");
        ns.failNextWrite();
        assertEquals(BerthException.Kind.INVALID_ARGUMENT,
                assertThrows(BerthException.class, () -> ns.writeProcSys(Map.of(Kind.NET, net), files)).kind());
        ns.writeProcSys(Map.of(Kind.NET, net), files);
        assertEquals(List.of(files), ns.written(), "only the write that succeeded");
    }
}
