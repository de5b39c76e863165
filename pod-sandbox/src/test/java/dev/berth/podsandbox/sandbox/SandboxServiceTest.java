package dev.berth.podsandbox.sandbox;

import dev.berth.podsandbox.oci.ConmonRuntime;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import dev.berth.host.Command;
import dev.berth.host.LinuxMounts;
import dev.berth.podsandbox.oci.RuntimeHandlers;
import dev.berth.podsandbox.sandbox.SandboxConfig.NamespaceMode;
import dev.berth.podsandbox.sandbox.SandboxConfig.NamespaceOptions;
import dev.berth.podsandbox.testing.FakeCgroups;
import dev.berth.podsandbox.testing.FakePodNetwork;
import dev.berth.podsandbox.testing.HostProbe;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sandbox lifecycle against real namespaces, mounts and processes (root), with fake network and cgroups. */
@Tag("root")
class SandboxServiceTest {
    @TempDir
    Path tmp;

    Path stateDir;
    Path runRoot;
    FakePodNetwork network;
    FakeCgroups cgroups;
    SandboxService service;
    final List<SandboxService> services = new ArrayList<>();

    @BeforeEach
    void setUp() {
        stateDir = tmp.resolve("state/sandboxes");
        runRoot = tmp.resolve("run");
        network = new FakePodNetwork();
        cgroups = new FakeCgroups();
        service = newService(SandboxContainers.NONE);
    }

    SandboxService newService(SandboxContainers containers) {
        RuntimeHandlers handlers = new RuntimeHandlers(
                Map.of("runc", "runc", "crun", "crun", "broken", "/bin/false"), "runc", ConmonRuntime.factory(Path.of("/usr/bin/conmon"), runRoot.resolve("runtimes"), java.time.Duration.ofSeconds(60), Path::of));
        SandboxService s = new SandboxService(stateDir, runRoot, handlers, network, cgroups, containers);
        services.add(s);
        return s;
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (SandboxService s : services) {
            for (SandboxStatus st : s.list(SandboxFilter.ALL)) {
                try {
                    s.remove(st.id());
                } catch (RuntimeException e) {
                    // keep cleaning; the assertions of the test already ran
                }
            }
        }
        // whatever a failed test left: infra containers, then mounts, before the temp dir is deleted
        Path runtimes = runRoot.resolve("runtimes");
        if (Files.isDirectory(runtimes)) {
            try (Stream<Path> handlers = Files.list(runtimes)) {
                for (Path h : handlers.toList()) {
                    try (Stream<Path> ids = Files.list(h)) {
                        for (Path id : ids.toList()) {
                            String binary = h.getFileName().toString();
                            Command.run(binary, "--root", h.toString(), "delete", "--force", id.getFileName().toString());
                        }
                    }
                }
            }
        }
        LinuxMounts.INSTANCE.unmountAllUnder(tmp);
    }

    static SandboxConfig pod(String name, NamespaceOptions ns) {
        return new SandboxConfig(new SandboxConfig.Metadata(name, "uid-" + name, "default", 0), name, "",
                SandboxConfig.Dns.NONE, List.of(), Map.of("app", name), Map.of("note", "test"), "", Map.of(), ns,
                null, null, 0, "");
    }

    static SandboxConfig pod(String name) {
        return pod(name, NamespaceOptions.DEFAULT);
    }

    /** The directory holding the sandbox's hostname, hosts, resolv.conf and shm/. */
    private Path runDirectory(String id) {
        return Path.of(service.podContext(id).hostsPath()).getParent();
    }

    static List<String> joined(SandboxStatus s) {
        Map<String, Object> info = s.info();
        List<String> flags = new ArrayList<>();
        if (!info.get("netnsPath").toString().isEmpty()) {
            flags.add("--net=" + info.get("netnsPath"));
        }
        if (!info.get("ipcnsPath").toString().isEmpty()) {
            flags.add("--ipc=" + info.get("ipcnsPath"));
        }
        if (!info.get("utsnsPath").toString().isEmpty()) {
            flags.add("--uts=" + info.get("utsnsPath"));
        }
        return flags;
    }

    @Test
    void processesOfOnePodShareInterfacesHostnameAndShmWhileASecondPodSeesNoneOfThem() throws Exception {
        String a = service.run(pod("alpha"));
        String b = service.run(pod("beta"));
        SandboxStatus sa = service.status(a, true);
        SandboxStatus sb = service.status(b, true);
        assertEquals(SandboxState.READY, sa.state());
        String ipA = sa.ips().get(0);
        String ipB = sb.ips().get(0);
        assertNotEquals(ipA, ipB);

        // "container" 1 of pod alpha creates a SysV shm segment; "container" 2 looks around
        String key = HostProbe.inside(joined(sa), "ipcmk -M 4096 | awk '{print $NF}'").strip();
        assertTrue(key.matches("\\d+"), "ipcmk printed no shared memory id: '" + key + "'");
        String second = HostProbe.inside(joined(sa), "hostname; ip -o -4 addr show; ipcs -m");
        assertTrue(second.startsWith("alpha\n"), second);
        assertTrue(second.contains(ipA + "/16"), second);
        assertTrue(shmIds(second).contains(key), "segment " + key + " not found: " + second);

        String other = HostProbe.inside(joined(sb), "hostname; ip -o -4 addr show; ipcs -m");
        assertTrue(other.startsWith("beta\n"), other);
        assertFalse(other.contains(ipA), other);
        assertFalse(shmIds(other).contains(key), other);
        String host = Command.check("ip", "-o", "-4", "addr", "show");
        assertFalse(host.contains(ipA), "the pod's address is not on the host: " + host);
        assertNotEquals("alpha", Command.check("hostname").strip());

        // the identity files
        Path dir = runDirectory(a);
        assertEquals("alpha\n", Files.readString(dir.resolve("hostname")));
        assertTrue(Files.readString(dir.resolve("hosts")).contains(ipA + "\talpha\n"));
        assertTrue(HostProbe.mountsUnder(dir.resolve("shm")).contains(dir.resolve("shm").toString()));
    }

    private static List<String> shmIds(String ipcsOutput) {
        List<String> ids = new ArrayList<>();
        for (String line : ipcsOutput.split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length > 1 && f[0].startsWith("0x")) {
                ids.add(f[1]);
            }
        }
        return ids;
    }

    @Test
    void sharedPidNamespaceHasCatatonitAsPid1AndShowsTheOtherContainersProcesses() throws Exception {
        String id = service.run(pod("shared-pid", new NamespaceOptions(NamespaceMode.POD, NamespaceMode.POD, NamespaceMode.POD, "")));
        SandboxStatus st = service.status(id, true);
        assertEquals(SandboxState.READY, st.state());
        long infra = ((Number) st.info().get("pid")).longValue();
        assertTrue(infra > 0 && HostProbe.alive(infra));
        assertEquals(HostProbe.nsId("net", Path.of(st.info().get("netnsPath").toString())),
                HostProbe.nsId("net", Path.of("/proc/" + infra + "/ns/net")),
                "the infra process lives in the pod's network namespace");

        String pidns = "--pid=/proc/" + infra + "/ns/pid";
        Process sleeper = new ProcessBuilder("nsenter", pidns, "--", "sleep", "600").start();
        try {
            // wait until the "first container" runs in the pod's PID namespace
            String seen = "";
            for (int i = 0; i < 500 && !seen.contains("sleep"); i++) {
                seen = Command.check("nsenter", pidns, "--", "unshare", "--mount", "--propagation", "private", "--mount-proc",
                        "/bin/sh", "-c", "cat /proc/1/comm; cat /proc/[0-9]*/comm");
            }
            assertTrue(seen.startsWith("catatonit\n"), seen);
            assertTrue(seen.contains("sleep"), seen);
        } finally {
            sleeper.destroyForcibly().waitFor();
        }

        assertFalse(HostProbe.cgroupsNamed("berth-infra-" + id).isEmpty(), "the infra process has a cgroup of its own");

        service.stop(id);
        assertEquals(SandboxState.NOTREADY, service.status(id, false).state());
        assertFalse(HostProbe.alive(infra), "stop ends the infra process");
        assertEquals(List.of(), HostProbe.cgroupsNamed("berth-infra-" + id), "and its cgroup is gone");
        service.remove(id);
        assertFalse(HostProbe.alive(infra));
        assertEquals(List.of(), HostProbe.mountsUnder(runRoot));
    }

    @Test
    void aSandboxWhoseInfraProcessDiedIsNotReadyAlsoAfterARestart() throws Exception {
        String id = service.run(pod("dies", new NamespaceOptions(NamespaceMode.POD, NamespaceMode.POD, NamespaceMode.POD, "")));
        long infra = ((Number) service.status(id, true).info().get("pid")).longValue();
        Command.check("kill", "-KILL", Long.toString(infra));
        for (int i = 0; i < 1000 && HostProbe.alive(infra); i++) {
            Thread.sleep(5);
        }
        assertEquals(SandboxState.NOTREADY, service.status(id, false).state());

        SandboxService restarted = newService(SandboxContainers.NONE);
        restarted.recover();
        assertEquals(SandboxState.NOTREADY, restarted.status(id, false).state());
        restarted.remove(id);
        assertEquals(List.of(), HostProbe.mountsUnder(runRoot));
    }

    @Test
    void crunIsTheSecondHandlerAndAFailingInfraStartLeavesNothing() throws Exception {
        SandboxConfig c = pod("with-crun", new NamespaceOptions(NamespaceMode.POD, NamespaceMode.POD, NamespaceMode.POD, ""));
        SandboxConfig crun = new SandboxConfig(c.metadata(), c.hostname(), "", c.dns(), c.portMappings(), c.labels(), c.annotations(), "",
                Map.of(), c.namespaces(), null, null, 0, "crun");
        if (Files.exists(Path.of("/sys/fs/cgroup/unified/cgroup.controllers"))) {
            // a hybrid cgroup host: crun refuses to run anything with cgroups there; the failure is clean
            BerthException e = assertThrows(BerthException.class, () -> service.run(crun));
            assertTrue(e.getMessage().contains("crun"), e.getMessage());
            assertEquals(List.of(), HostProbe.mountsUnder(tmp));
            assertEquals(List.of(), service.list(SandboxFilter.ALL));
        } else {
            String id = service.run(crun);
            long infra = ((Number) service.status(id, true).info().get("pid")).longValue();
            assertEquals("catatonit", Files.readString(Path.of("/proc/" + infra + "/comm")).strip());
            service.remove(id);
            assertFalse(HostProbe.alive(infra));
        }
        SandboxConfig crunNoInfra = new SandboxConfig(c.metadata(), c.hostname(), "", c.dns(), c.portMappings(), c.labels(),
                c.annotations(), "", Map.of(), NamespaceOptions.DEFAULT, null, null, 0, "crun");
        String id = service.run(crunNoInfra);
        SandboxStatus st = service.status(id, true);
        assertEquals("crun", st.runtimeHandler());
        assertEquals("crun", st.info().get("runtimeBinary"));
    }

    @Test
    void hostNetworkPodSeesTheHostsInterfacesAndGetsNoNetworkSetup() throws Exception {
        String id = service.run(pod("hostnet", new NamespaceOptions(NamespaceMode.NODE, NamespaceMode.CONTAINER, NamespaceMode.POD, "")));
        SandboxStatus st = service.status(id, true);
        assertEquals("", st.info().get("netnsPath"));
        assertEquals("", st.info().get("utsnsPath"), "host-network pods keep the host's hostname");
        assertEquals(List.of(), st.ips());
        assertTrue(network.attached.isEmpty(), "no network attach for a host-network pod");
        // other tests on the machine may add host interfaces meanwhile: compare the namespace itself,
        // and that every interface the host had before and after is seen inside
        String listLinks = "ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//'";
        List<String> hostBefore = List.of(Command.check("/bin/sh", "-c", listLinks).split("\n"));
        String inside = HostProbe.inside(joined(st), "readlink /proc/self/ns/net; " + listLinks);
        List<String> hostAfter = List.of(Command.check("/bin/sh", "-c", listLinks).split("\n"));
        assertEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/net")).toString(), inside.split("\n")[0]);
        List<String> seen = List.of(inside.split("\n"));
        for (String link : hostBefore) {
            assertTrue(seen.contains(link) || !hostAfter.contains(link), link + " is missing inside: " + inside);
        }
        assertTrue(seen.contains("lo"));
        Path dir = runDirectory(id);
        assertEquals(Files.readString(Path.of("/etc/resolv.conf")), Files.readString(dir.resolve("resolv.conf")));
        assertEquals(Command.check("hostname").strip(), Files.readString(dir.resolve("hostname")).strip());
        // no process at all for a sandbox without an infra process
        assertEquals(0L, ((Number) st.info().get("pid")).longValue());
    }

    @Test
    void dnsConfigBecomesTheResolvConf() throws Exception {
        SandboxConfig c = pod("dns");
        c = new SandboxConfig(c.metadata(), c.hostname(), "", new SandboxConfig.Dns(List.of("10.96.0.10"),
                List.of("default.svc.cluster.local", "svc.cluster.local"), List.of("ndots:5")), List.of(), c.labels(),
                c.annotations(), "", Map.of(), c.namespaces(), null, null, 0, "");
        String id = service.run(c);
        assertEquals("search default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
                Files.readString(runDirectory(id).resolve("resolv.conf")));
        String plain = service.run(pod("no-dns"));
        assertEquals(Files.readString(Path.of("/etc/resolv.conf")), Files.readString(runDirectory(plain).resolve("resolv.conf")));
    }

    @Test
    void namespacedSysctlsAreAppliedInsideOnly() throws Exception {
        String hostPorts = Files.readString(Path.of("/proc/sys/net/ipv4/ip_unprivileged_port_start")).strip();
        String hostShmmni = Files.readString(Path.of("/proc/sys/kernel/shmmni")).strip();
        SandboxConfig c = pod("sysctl");
        c = new SandboxConfig(c.metadata(), c.hostname(), "", c.dns(), List.of(), c.labels(), c.annotations(), "",
                Map.of("net.ipv4.ip_unprivileged_port_start", "123", "kernel/shmmni", "1234"), c.namespaces(), null, null, 0, "");
        String id = service.run(c);
        String inside = HostProbe.inside(joined(service.status(id, true)),
                "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shmmni");
        assertEquals("123\n1234\n", inside);
        assertEquals(hostPorts, Files.readString(Path.of("/proc/sys/net/ipv4/ip_unprivileged_port_start")).strip());
        assertEquals(hostShmmni, Files.readString(Path.of("/proc/sys/kernel/shmmni")).strip());
        assertNotEquals("123", hostPorts);
    }

    @Test
    void badSysctlsAreRejectedBeforeAnythingIsCreated() throws Exception {
        NamespaceOptions hostNet = new NamespaceOptions(NamespaceMode.NODE, NamespaceMode.CONTAINER, NamespaceMode.POD, "");
        NamespaceOptions hostIpc = new NamespaceOptions(NamespaceMode.POD, NamespaceMode.CONTAINER, NamespaceMode.NODE, "");
        List<Object[]> cases = List.of(
                new Object[] {Map.of("vm.swappiness", "10"), NamespaceOptions.DEFAULT},
                new Object[] {Map.of("kernel.pid_max", "100000"), NamespaceOptions.DEFAULT},
                new Object[] {Map.of("no.such.sysctl", "1"), NamespaceOptions.DEFAULT},
                new Object[] {Map.of("net/../../../etc/passwd", "x"), NamespaceOptions.DEFAULT},
                new Object[] {Map.of("net.ipv4.ip_forward", "1"), hostNet},
                new Object[] {Map.of("kernel.shmmax", "1000"), hostIpc});
        int n = 0;
        for (Object[] cs : cases) {
            @SuppressWarnings("unchecked")
            Map<String, String> sysctls = (Map<String, String>) cs[0];
            SandboxConfig c = pod("bad" + n++, (NamespaceOptions) cs[1]);
            SandboxConfig bad = new SandboxConfig(c.metadata(), c.hostname(), "", c.dns(), List.of(), c.labels(),
                    c.annotations(), "/kubepods", sysctls, c.namespaces(), null, null, 0, "");
            BerthException e = assertThrows(BerthException.class, () -> service.run(bad));
            assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind(), e.getMessage());
        }
        assertEquals(List.of(), HostProbe.mountsUnder(tmp));
        assertFalse(Files.exists(stateDir) && Files.list(stateDir).findAny().isPresent(), "no record was written");
        assertFalse(Files.exists(runRoot.resolve("sandboxes")) && Files.list(runRoot.resolve("sandboxes")).findAny().isPresent());
        assertTrue(cgroups.pods.isEmpty());
        assertTrue(network.attached.isEmpty());
    }

    @Test
    void removeLeavesNoMountNoNamespaceNoProcessNoCgroupAndIsIdempotent() throws Exception {
        SandboxConfig c = pod("full", new NamespaceOptions(NamespaceMode.POD, NamespaceMode.POD, NamespaceMode.POD, ""));
        c = new SandboxConfig(c.metadata(), c.hostname(), "", c.dns(), List.of(), c.labels(), c.annotations(), "/kubepods/burstable",
                Map.of("net.ipv4.ping_group_range", "0 0"), c.namespaces(),
                new Resources(512L, null, null, null, null, 256L << 20, null, null, null, Map.of(), Map.of()), null, 0, "");
        String id = service.run(c);
        SandboxStatus st = service.status(id, true);
        long infra = ((Number) st.info().get("pid")).longValue();
        String cgroup = st.info().get("cgroupPath").toString();
        assertEquals(256L << 20, cgroups.pods.get(cgroup).memoryLimitBytes());
        String netId = HostProbe.nsId("net", Path.of(st.info().get("netnsPath").toString()));
        String ipcId = HostProbe.nsId("ipc", Path.of(st.info().get("ipcnsPath").toString()));
        assertEquals(List.of(infra), HostProbe.processesIn("net", netId), "only the infra process is in the pod's netns");
        assertFalse(HostProbe.mountsUnder(runRoot).isEmpty());
        assertFalse(HostProbe.cgroupsNamed("berth-fake-infra-" + id).isEmpty(), "the infra process runs in the pod's cgroup path");

        service.remove(id);

        assertEquals(List.of(), HostProbe.mountsUnder(runRoot), "no mount left under the run root");
        // (namespace inode numbers are reused by the kernel, and other tests on this machine create
        // namespaces too: a hit must also be one of this sandbox's processes or paths to count)
        assertFalse(HostProbe.processesIn("net", netId).contains(infra), "no process of the pod in its network namespace");
        assertFalse(HostProbe.processesIn("ipc", ipcId).contains(infra));
        assertFalse(HostProbe.alive(infra));
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            assertFalse(line.contains(" " + netId + " ") && line.contains(id), "the netns is pinned nowhere: " + line);
        }
        assertFalse(Files.exists(runRoot.resolve("sandboxes").resolve(id)));
        assertFalse(Files.exists(stateDir.resolve(id)));
        assertTrue(cgroups.pods.isEmpty(), "the pod cgroup is removed");
        assertEquals(List.of(), HostProbe.cgroupsNamed("berth-fake-infra-" + id), "the infra process's cgroup is gone");
        assertTrue(network.attached.isEmpty());
        assertFalse(Files.exists(runRoot.resolve("runtimes/runc").resolve(id)), "runc forgot the infra container");

        service.remove(id);
        service.remove("0123456789abcdef-unknown");
        service.stop("0123456789abcdef-unknown");
        assertThrows(BerthException.class, () -> service.status(id, false));
        assertEquals(BerthException.Kind.NOT_FOUND, assertThrows(BerthException.class, () -> service.status(id, false)).kind());
    }

    @Test
    void aFailureHalfWayUndoesEveryCompletedStep() throws Exception {
        SandboxConfig c = pod("fails", new NamespaceOptions(NamespaceMode.POD, NamespaceMode.POD, NamespaceMode.POD, ""));
        SandboxConfig withCgroup = new SandboxConfig(c.metadata(), c.hostname(), "", c.dns(), List.of(), c.labels(),
                c.annotations(), "/kubepods", Map.of(), c.namespaces(), null, null, 0, "");
        network.failAttach = true;
        BerthException e = assertThrows(BerthException.class, () -> service.run(withCgroup));
        assertEquals(BerthException.Kind.UNAVAILABLE, e.kind());
        assertNothingLeft();

        // the last step (the infra process through a runtime that fails) fails: network and cgroup are undone too
        network.failAttach = false;
        int detachesBefore = network.detachCalls.get();
        SandboxConfig broken = new SandboxConfig(c.metadata(), c.hostname(), "", c.dns(), List.of(), c.labels(),
                c.annotations(), "/kubepods", Map.of(), c.namespaces(), null, null, 0, "broken");
        assertThrows(BerthException.class, () -> service.run(broken));
        assertNothingLeft();
        assertEquals(detachesBefore + 1, network.detachCalls.get(), "the attached network was detached again");

        // the name is free again
        String id = service.run(withCgroup);
        assertEquals(SandboxState.READY, service.status(id, false).state());
    }

    private void assertNothingLeft() throws Exception {
        assertEquals(List.of(), HostProbe.mountsUnder(tmp));
        assertTrue(cgroups.pods.isEmpty(), cgroups.pods.toString());
        assertTrue(network.attached.isEmpty());
        assertEquals(List.of(), service.list(SandboxFilter.ALL));
        try (Stream<Path> s = Files.exists(stateDir) ? Files.list(stateDir) : Stream.empty()) {
            assertEquals(List.of(), s.toList());
        }
        try (Stream<Path> s = Files.exists(runRoot.resolve("sandboxes")) ? Files.list(runRoot.resolve("sandboxes")) : Stream.empty()) {
            assertEquals(List.of(), s.toList());
        }
    }

    /** Stands for the daemon dying in the middle of a call: nothing catches it, nothing is undone. */
    static final class SimulatedCrash extends Error {
        private static final long serialVersionUID = 1L;
    }

    @Test
    void aCrashBetweenRecordAndNetworkSetupIsCleanedUpAfterRestart() throws Exception {
        FakePodNetwork crashing = new FakePodNetwork() {
            @Override
            public PodNetworkStatus attach(PodAttachment a) {
                super.attach(a);
                throw new SimulatedCrash();
            }
        };
        SandboxService dying = new SandboxService(stateDir, runRoot,
                new RuntimeHandlers(Map.of("runc", "runc"), "runc", ConmonRuntime.factory(Path.of("/usr/bin/conmon"), runRoot.resolve("runtimes"), java.time.Duration.ofSeconds(60), Path::of)), crashing, cgroups, SandboxContainers.NONE);
        assertThrows(SimulatedCrash.class, () -> dying.run(pod("crashed")));
        assertEquals(1, crashing.attached.size(), "the crash left an attached network behind");
        assertFalse(HostProbe.mountsUnder(runRoot).isEmpty(), "and pinned namespaces");

        // berth starts again: the record written before the attach says what to clean up
        SandboxService restarted = new SandboxService(stateDir, runRoot,
                new RuntimeHandlers(Map.of("runc", "runc"), "runc", ConmonRuntime.factory(Path.of("/usr/bin/conmon"), runRoot.resolve("runtimes"), java.time.Duration.ofSeconds(60), Path::of)), crashing, cgroups, SandboxContainers.NONE);
        services.add(restarted);
        restarted.recover();
        List<SandboxStatus> listed = restarted.list(SandboxFilter.ALL);
        assertEquals(1, listed.size());
        assertEquals(SandboxState.NOTREADY, listed.get(0).state());
        restarted.stop(listed.get(0).id());
        assertTrue(crashing.attached.isEmpty(), "stop detached the network the crash left");
        restarted.remove(listed.get(0).id());
        assertEquals(List.of(), HostProbe.mountsUnder(runRoot));
        assertEquals(List.of(), restarted.list(SandboxFilter.ALL));
    }

    @Test
    void onASharedMountThePinsAreMadePrivateAndStillFullyReleased() throws Exception {
        // as on a systemd host, where / and /run propagate
        Path shared = tmp.resolve("shared");
        Files.createDirectories(shared);
        Command.check("mount", "--bind", shared.toString(), shared.toString());
        try {
            Command.check("mount", "--make-shared", shared.toString());
            runRoot = shared.resolve("run");
            SandboxService s = newService(SandboxContainers.NONE);
            String id = s.run(pod("on-shared"));
            Path nsDir = runRoot.resolve("sandboxes").resolve(id).resolve("ns");
            String line = Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
                    .filter(l -> l.split(" ")[4].equals(nsDir.toString())).findFirst().orElse("");
            assertFalse(line.isEmpty(), "the pin directory is a mount of its own");
            assertFalse(line.contains("shared:"), "and it does not propagate: " + line);
            assertTrue(HostProbe.inside(joined(s.status(id, true)), "hostname").startsWith("on-shared"));
            s.remove(id);
            assertEquals(List.of(shared.toString()), HostProbe.mountsUnder(shared));
        } finally {
            LinuxMounts.INSTANCE.unmountAllUnder(shared);
        }
    }

    @Test
    void aSecondSandboxWithTheSameNameIsAlreadyExistsNamingTheHolder() {
        String first = service.run(pod("twin"));
        BerthException e = assertThrows(BerthException.class, () -> service.run(pod("twin")));
        assertEquals(BerthException.Kind.ALREADY_EXISTS, e.kind());
        assertTrue(e.getMessage().contains(first), e.getMessage());
        service.stop(first);
        assertEquals(BerthException.Kind.ALREADY_EXISTS, assertThrows(BerthException.class, () -> service.run(pod("twin"))).kind(),
                "a stopped sandbox still holds its name");
        service.remove(first);
        assertNotEquals(first, service.run(pod("twin")));
    }

    @Test
    void unknownRuntimeHandlerAndUnsupportedNamespaceModesAreInvalidArgument() {
        SandboxConfig c = pod("h");
        SandboxConfig unknown = new SandboxConfig(c.metadata(), c.hostname(), "", c.dns(), List.of(), c.labels(),
                c.annotations(), "", Map.of(), c.namespaces(), null, null, 0, "kata");
        BerthException e = assertThrows(BerthException.class, () -> service.run(unknown));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        assertTrue(e.getMessage().contains("kata"));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, assertThrows(BerthException.class, () -> service.run(
                pod("t", new NamespaceOptions(NamespaceMode.TARGET, NamespaceMode.CONTAINER, NamespaceMode.POD, "x")))).kind());
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, assertThrows(BerthException.class, () -> service.run(
                pod("Bad_Host!", NamespaceOptions.DEFAULT))).kind());
        assertEquals(List.of(), service.list(SandboxFilter.ALL));
    }

    @Test
    void stopRetriesTheNetworkTeardownOnEveryCallUntilItSucceeds() {
        String id = service.run(pod("teardown"));
        network.failNextDetaches.set(2);
        assertThrows(BerthException.class, () -> service.stop(id));
        assertEquals(SandboxState.NOTREADY, service.status(id, false).state());
        assertThrows(BerthException.class, () -> service.stop(id));
        assertEquals(1, network.attached.size());
        service.stop(id);
        assertTrue(network.attached.isEmpty());
        int calls = network.detachCalls.get();
        service.stop(id);
        assertEquals(calls, network.detachCalls.get(), "once detached, stop does not detach again");
        assertEquals(List.of(), service.status(id, false).ips());
    }

    @Test
    void recordsSurviveARestartWithTheirStates() throws Exception {
        String ready = service.run(pod("stays-ready"));
        String stopped = service.run(pod("stopped"));
        service.stop(stopped);
        SandboxStatus before = service.status(ready, false);

        SandboxService restarted = newService(SandboxContainers.NONE);
        assertEquals(2, restarted.recover());
        SandboxStatus after = restarted.status(ready, false);
        assertEquals(SandboxState.READY, after.state());
        assertEquals(before, after);
        assertEquals(SandboxState.NOTREADY, restarted.status(stopped, false).state());
        assertEquals(BerthException.Kind.ALREADY_EXISTS,
                assertThrows(BerthException.class, () -> restarted.run(pod("stays-ready"))).kind());
        restarted.remove(ready);
        restarted.remove(stopped);
        assertEquals(List.of(), HostProbe.mountsUnder(runRoot));
    }

    @Test
    void listFiltersByIdPrefixStateAndLabels() {
        String a = service.run(pod("list-a"));
        String b = service.run(pod("list-b"));
        service.stop(b);
        assertEquals(List.of(a, b), service.list(SandboxFilter.ALL).stream().map(SandboxStatus::id).toList());
        assertEquals(List.of(a), ids(new SandboxFilter(a.substring(0, 12), null, Map.of())));
        assertEquals(List.of(b), ids(new SandboxFilter("", SandboxState.NOTREADY, Map.of())));
        assertEquals(List.of(a), ids(new SandboxFilter("", null, Map.of("app", "list-a"))));
        assertEquals(List.of(), ids(new SandboxFilter("", SandboxState.READY, Map.of("app", "list-b"))));
        assertEquals(List.of(), ids(new SandboxFilter("ffff-none", null, Map.of())));
        assertEquals(a, service.status(a.substring(0, 10), false).id());
    }

    private List<String> ids(SandboxFilter f) {
        return service.list(f).stream().map(SandboxStatus::id).toList();
    }

    @Test
    void aSlowStopBlocksNeitherStatusNorListNorOtherSandboxes() throws Exception {
        CountDownLatch stopping = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        SandboxService s = newService(new SandboxContainers() {
            @Override
            public void stopAll(String sandboxId) {
                stopping.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }

            @Override
            public void removeAll(String sandboxId) {
            }
        });
        String slow = s.run(pod("slow"));
        ExecutorService pool = Executors.newCachedThreadPool();
        try {
            Future<?> stop = pool.submit(() -> s.stop(slow));
            stopping.await();
            // the stop holds the sandbox's lock now; everything else goes on
            assertEquals(SandboxState.READY, s.status(slow, false).state());
            assertEquals(1, s.list(SandboxFilter.ALL).size());
            release.countDown();
            stop.get(60, TimeUnit.SECONDS);
            assertEquals(SandboxState.NOTREADY, s.status(slow, false).state());
        } finally {
            release.countDown();
            pool.shutdownNow();
        }
    }

    @Test
    void concurrentStopsAndRemovesOfOneSandboxAreSerialisedAndAllSucceed() throws Exception {
        String id = service.run(pod("contended", new NamespaceOptions(NamespaceMode.POD, NamespaceMode.POD, NamespaceMode.POD, "")));
        long infra = ((Number) service.status(id, true).info().get("pid")).longValue();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<CompletableFuture<Void>> calls = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                boolean remove = i % 2 == 1;
                calls.add(CompletableFuture.runAsync(() -> {
                    if (remove) {
                        service.remove(id);
                    } else {
                        service.stop(id);
                    }
                }, pool));
            }
            calls.forEach(CompletableFuture::join);
        } finally {
            pool.shutdownNow();
        }
        assertEquals(List.of(), service.list(SandboxFilter.ALL));
        assertEquals(List.of(), HostProbe.mountsUnder(runRoot));
        assertFalse(HostProbe.alive(infra));
        assertEquals(1, network.detachCalls.get(), "the network was detached exactly once");
    }

    @Test
    void manySandboxesAreCreatedAndRemovedInParallel() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<CompletableFuture<String>> runs = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                String name = "par" + i;
                runs.add(CompletableFuture.supplyAsync(() -> service.run(pod(name)), pool));
            }
            List<String> ids = runs.stream().map(CompletableFuture::join).toList();
            assertEquals(16, service.list(new SandboxFilter("", SandboxState.READY, Map.of())).size());
            assertEquals(16, network.attached.values().stream().distinct().count());
            List<CompletableFuture<Void>> removes = ids.stream()
                    .map(id -> CompletableFuture.runAsync(() -> service.remove(id), pool)).toList();
            removes.forEach(CompletableFuture::join);
            assertEquals(List.of(), HostProbe.mountsUnder(runRoot));
            assertEquals(List.of(), service.list(SandboxFilter.ALL));
        } finally {
            pool.shutdownNow();
        }
    }
}
