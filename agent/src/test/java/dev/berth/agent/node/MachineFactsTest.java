package dev.berth.agent.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MachineFactsTest {
    @TempDir
    Path dir;

    @Test
    void thisMachinesFactsAreSane() throws Exception {
        MachineFacts f = MachineFacts.current();
        assertTrue(f.cpus() >= 1 && f.cpus() <= 4096, "cpus " + f.cpus());
        assertEquals(dev.berth.host.HostMemory.totalBytes(), f.memoryBytes());
        assertTrue(f.kernelVersion().matches("[0-9]+\\.[0-9]+.*"), f.kernelVersion());
        assertEquals(Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).trim(), f.bootId());
        assertTrue(f.bootId().matches("[0-9a-f-]{36}"), f.bootId());
        assertFalse(f.osImage().isEmpty());
        assertTrue(List.of("amd64", "arm64", "ppc64le", "s390x", "riscv64", "386", "arm", "loong64").contains(f.architecture()), f.architecture());
        if (Files.isReadable(Path.of("/etc/machine-id"))) {
            assertTrue(f.machineId().matches("[0-9a-f]{32}"), f.machineId());
        }
        f.hugepages().forEach((k, v) -> assertTrue(k.matches("hugepages-[0-9]+[KMG]i") && v >= 0, k + "=" + v));
    }

    @Test
    void factsAreReadFromTheirFilesBoundedAndWithDefaults() throws Exception {
        Files.createDirectories(dir.resolve("proc/sys/kernel/random"));
        Files.createDirectories(dir.resolve("sys/devices/system/cpu"));
        Files.createDirectories(dir.resolve("sys/kernel/mm/hugepages/hugepages-2048kB"));
        Files.createDirectories(dir.resolve("sys/kernel/mm/hugepages/hugepages-1048576kB"));
        Files.createDirectories(dir.resolve("etc"));
        Files.writeString(dir.resolve("proc/meminfo"), "MemTotal: 4096 kB\n");
        Files.writeString(dir.resolve("proc/sys/kernel/osrelease"), "6.1.0-test\n");
        Files.writeString(dir.resolve("proc/sys/kernel/random/boot_id"), "b".repeat(10_000)); // bounded
        Files.writeString(dir.resolve("sys/devices/system/cpu/online"), "0-3,6,8-9\n");
        Files.writeString(dir.resolve("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"), "3\n");
        Files.writeString(dir.resolve("sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"), "1\n");
        Files.writeString(dir.resolve("etc/os-release"), "NAME=\"X\"\nPRETTY_NAME=\"Test OS 1 (x)\"\n");
        MachineFacts f = MachineFacts.read(dir, "aarch64");
        assertEquals(7, f.cpus());
        assertEquals(4096L * 1024, f.memoryBytes());
        assertEquals(Map.of("hugepages-2Mi", 3L << 21, "hugepages-1Gi", 1L << 30), f.hugepages());
        assertEquals("6.1.0-test", f.kernelVersion());
        assertEquals("Test OS 1 (x)", f.osImage());
        assertEquals(MachineFacts.MAX_READ, f.bootId().length());
        assertEquals("", f.systemUuid(), "an unreadable product_uuid is empty");
        assertEquals("", f.machineId());
        assertEquals("arm64", f.architecture());
        assertEquals("amd64", MachineFacts.goArch("amd64"));
    }

    @Test
    void usageOfThisMachineIsSane() throws Exception {
        long total = dev.berth.host.HostMemory.totalBytes();
        MachineUsage u = MachineUsage.sample(dir, null, total);
        assertTrue(u.memoryAvailable() > 0 && u.memoryAvailable() <= total, "memory available " + u.memoryAvailable());
        assertEquals(Files.getFileStore(dir).getTotalSpace(), u.nodefs().capacityBytes());
        assertTrue(u.nodefs().availableBytes() >= 0 && u.nodefs().availableBytes() <= u.nodefs().capacityBytes());
        assertTrue(u.nodefs().inodes() != 0 && u.nodefs().inodesFree() <= Math.max(u.nodefs().inodes(), 0) || u.nodefs().inodes() == 0);
        assertEquals(u.nodefs(), u.imagefs(), "without an image filesystem the node's stands for it");
        assertTrue(u.pidMax() > 0 && u.pidAvailable() > 0 && u.pidAvailable() < u.pidMax());
        assertEquals(MachineUsage.Fs.UNKNOWN, MachineUsage.statvfs(dir.resolve("absent")));
    }

    @Test
    void memoryAvailableIsCapacityLessTheWorkingSet() throws Exception {
        Files.createDirectories(dir.resolve("sys/fs/cgroup/memory"));
        Files.createDirectories(dir.resolve("proc"));
        Files.writeString(dir.resolve("proc/meminfo"), "MemTotal: 1000 kB\nMemFree: 100 kB\nInactive(file): 50 kB\n");
        assertEquals(150 * 1024, MachineUsage.memoryAvailable(dir, 1000 * 1024), "unified hierarchy: free plus inactive file pages");
        Files.writeString(dir.resolve("sys/fs/cgroup/memory/memory.usage_in_bytes"), "800\n");
        Files.writeString(dir.resolve("sys/fs/cgroup/memory/memory.stat"), "cache 5\ntotal_inactive_file 300\n");
        assertEquals(1000 - (800 - 300), MachineUsage.memoryAvailable(dir, 1000));
    }

    @Test
    void theDefaultRoutesInterfaceIsFound() {
        String table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                + "wlan0\t00000000\t010200C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
                + "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
                + "eth1\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assertEquals("eth0", NodeAddresses.defaultRouteInterface(table));
        assertEquals(null, NodeAddresses.defaultRouteInterface("Iface\tDestination\n"));
        assertEquals(List.of("10.1.2.3"), NodeAddresses.find(List.of("10.1.2.3")));
        List<String> found = NodeAddresses.find(List.of());
        assertTrue(found.size() <= 1, found.toString());
    }
}
