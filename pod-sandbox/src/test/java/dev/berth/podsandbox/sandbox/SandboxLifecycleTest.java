package dev.berth.podsandbox.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cgroups.Cgroups;
import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import dev.berth.host.HostMounts;
import dev.berth.host.HostNamespaces;
import dev.berth.host.MountTable;
import dev.berth.host.testing.FakeMounts;
import dev.berth.host.testing.FakeNamespaces;
import dev.berth.host.testing.FakeProcesses;
import dev.berth.podsandbox.oci.RuntimeHandlers;
import dev.berth.podsandbox.sandbox.SandboxConfig.NamespaceMode;
import dev.berth.podsandbox.sandbox.SandboxConfig.NamespaceOptions;
import dev.berth.podsandbox.testing.FakeCgroups;
import dev.berth.podsandbox.testing.FakeOciRuntime;
import dev.berth.podsandbox.testing.FakePodNetwork;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sandbox lifecycle's decisions (the order of RunPodSandbox's steps, rollback, idempotency,
 * recovery at start-up) over in-memory mounts, namespaces, processes, network, cgroups and OCI
 * runtime; no root needed.
 */
class SandboxLifecycleTest {
    /** A crash of the daemon in the middle of a step: nothing catches it, nothing is undone. */
    static final class SimulatedCrash extends Error {
        SimulatedCrash() {
            super("simulated crash");
        }
    }

    @TempDir
    Path tmp;

    Path stateDir;
    Path runRoot;
    final List<String> steps = Collections.synchronizedList(new ArrayList<>());
    final FakeMounts mounts = new FakeMounts();
    final FakeNamespaces namespaces = new FakeNamespaces(mounts);
    final FakeProcesses processes = new FakeProcesses();
    final FakeCgroups cgroups = new FakeCgroups();
    final FakeOciRuntime runtime = new FakeOciRuntime("runc", processes);
    FakePodNetwork network;
    SandboxService service;
    /** The next this many unmounts of a tree fail. */
    final AtomicInteger failNextUnmounts = new AtomicInteger();
    /** Makes the creation of a pod cgroup crash the daemon just after the cgroup exists. */
    volatile boolean crashAfterCgroup;

    @BeforeEach
    void setUp() {
        stateDir = tmp.resolve("state/sandboxes");
        runRoot = tmp.resolve("run");
        network = journaledNetwork();
        runtime.observe(call -> steps.add(call.replaceAll("[0-9a-f]{64}", "ID")));
        service = newService(runtime.handlers());
    }

    SandboxService newService(RuntimeHandlers handlers) {
        HostNamespaces ns = new HostNamespaces() {
            @Override
            public void createPinned(Map<Kind, Path> pins, String hostname) {
                steps.add("namespaces " + new java.util.TreeSet<>(pins.keySet()) + (recorded() ? " (recorded)" : ""));
                namespaces.createPinned(pins, hostname);
            }

            @Override
            public void writeProcSys(Map<Kind, Path> pins, Map<String, String> files) {
                steps.add("sysctls " + new java.util.TreeSet<>(pins.keySet()));
                namespaces.writeProcSys(pins, files);
            }
        };
        return new SandboxService(stateDir, runRoot, handlers, network, journaled(cgroups), SandboxContainers.NONE,
                failingUnmounts(), ns, processes);
    }

    /** The fake mounts, whose next {@link #failNextUnmounts} unmounts of a tree fail (leaving it mounted). */
    HostMounts failingUnmounts() {
        return new HostMounts() {
            @Override
            public void bindPrivate(Path dir) {
                mounts.bindPrivate(dir);
            }

            @Override
            public void tmpfs(String source, Path target, String options) {
                mounts.tmpfs(source, target, options);
            }

            @Override
            public void overlay(Path target, String options) {
                mounts.overlay(target, options);
            }

            @Override
            public void unmount(Path target) {
                mounts.unmount(target);
            }

            @Override
            public void unmountAllUnder(Path dir) {
                if (failNextUnmounts.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                    throw BerthException.internal("scripted failure unmounting " + dir, null);
                }
                mounts.unmountAllUnder(dir);
            }

            @Override
            public List<Path> mountPointsUnder(Path dir) {
                return mounts.mountPointsUnder(dir);
            }

            @Override
            public int mountCountUnder(Path dir) {
                return mounts.mountCountUnder(dir);
            }

            @Override
            public boolean isMountPoint(Path path) {
                return mounts.isMountPoint(path);
            }

            @Override
            public MountTable.Mount containing(Path path) {
                return mounts.containing(path);
            }
        };
    }

    /** A network that tells {@link #steps} about attachments, without root. */
    FakePodNetwork journaledNetwork() {
        return new FakePodNetwork(false) {
            @Override
            public PodNetworkStatus attach(PodAttachment a) {
                steps.add("attach" + (recorded() ? " (recorded)" : ""));
                return super.attach(a);
            }

            @Override
            public void detach(PodAttachment a) {
                steps.add("detach");
                super.detach(a);
            }
        };
    }

    /** The cgroups, telling {@link #steps} about pod cgroups. */
    Cgroups journaled(FakeCgroups inner) {
        return new Cgroups() {
            @Override
            public String mode() {
                return inner.mode();
            }

            @Override
            public String driver() {
                return inner.driver();
            }

            @Override
            public String podPath(String parent) {
                return inner.podPath(parent);
            }

            @Override
            public String createPod(String parent, Resources resources) {
                steps.add("cgroup " + parent);
                String path = inner.createPod(parent, resources);
                if (crashAfterCgroup) {
                    throw new SimulatedCrash();
                }
                return path;
            }

            @Override
            public String containerPath(String podCgroup, String containerId) {
                return inner.containerPath(podCgroup, containerId);
            }

            @Override
            public void update(String path, Resources resources) {
                inner.update(path, resources);
            }

            @Override
            public void remove(String path) {
                steps.add("remove cgroup");
                inner.remove(path);
            }

            @Override
            public Optional<CgroupStats> stats(String path) {
                return inner.stats(path);
            }

            @Override
            public long oomKills(String path) {
                return inner.oomKills(path);
            }
        };
    }

    /** Whether some sandbox record is on disk. */
    boolean recorded() {
        try (Stream<Path> s = Files.list(stateDir)) {
            return s.anyMatch(d -> Files.exists(d.resolve("sandbox.json")));
        } catch (IOException e) {
            return false;
        }
    }

    static SandboxConfig pod(String name, NamespaceOptions ns, String cgroupParent) {
        return new SandboxConfig(new SandboxConfig.Metadata(name, "uid-" + name, "default", 0), name, "",
                SandboxConfig.Dns.NONE, List.of(), Map.of("app", name), Map.of(), cgroupParent, Map.of(), ns,
                null, null, 0, "");
    }

    /** A pod with its own network, IPC, UTS and PID namespaces (an infra process) and a pod cgroup. */
    static SandboxConfig fullPod(String name) {
        return pod(name, new NamespaceOptions(NamespaceMode.POD, NamespaceMode.POD, NamespaceMode.POD, ""), "/kubepods");
    }

    /** Asserts that nothing of any sandbox is left: mounts, cgroups, network, runtime containers, records, run directories. */
    void assertNothingLeft() throws IOException {
        assertEquals(List.of(), mounts.mounted(), "no pin or shm mount");
        assertEquals(Map.of(), cgroups.pods, "no pod cgroup");
        assertEquals(Map.of(), network.attached, "no network attachment");
        assertEquals(List.of(), runtime.known(), "no infra container");
        assertEquals(List.of(), processes.running(), "no infra process");
        assertEquals(List.of(), service.list(SandboxFilter.ALL));
        assertEquals(List.of(), listing(stateDir), "no record");
        assertEquals(List.of(), listing(runRoot.resolve("sandboxes")), "no run directory");
    }

    static List<String> listing(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).toList();
        }
    }

    // ---------------------------------------------------------------- RunPodSandbox

    @Test
    void runRecordsFirstThenPinsNamespacesCreatesTheCgroupAttachesTheNetworkAndStartsTheInfraProcessLast() {
        String id = service.run(fullPod("web"));
        assertEquals(List.of("namespaces [NET, IPC, UTS] (recorded)", "cgroup /kubepods", "attach (recorded)", "run ID"),
                steps);
        SandboxStatus status = service.status(id, false);
        assertEquals(SandboxState.READY, status.state());
        assertEquals(List.of(network.attached.get(id)), status.ips());
        PodContext ctx = service.podContext(id);
        assertEquals(FakeOciRuntime.State.RUNNING, runtime.state(id).orElseThrow());
        assertEquals(runtime.container(id).orElseThrow().pid(), ctx.infraPid(), "the infra pid is the runtime's");
        assertEquals(1, cgroups.pods.size());
        assertEquals(4, mounts.mounted().size(), "three pins and the pod's /dev/shm");
    }

    static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    static SandboxConfig withShmAndLogs(SandboxConfig c, Resources resources, long shm, String logDirectory) {
        return new SandboxConfig(c.metadata(), c.hostname(), logDirectory, c.dns(), c.portMappings(), c.labels(),
                c.annotations(), c.cgroupParent(), c.sysctls(), c.namespaces(), resources, null, shm, "");
    }

    @Test
    void recordsAndRunDirectoriesAreClosedToOtherUsersAndThePodFilesReadable() throws IOException {
        String id = service.run(fullPod("web"));
        Path run = runRoot.resolve("sandboxes").resolve(id);
        for (Path d : List.of(stateDir, stateDir.resolve(id), runRoot.resolve("sandboxes"), run, run.resolve("ns"),
                run.resolve("infra"), runRoot.resolve("infra"))) {
            assertEquals("rwx------", mode(d), d + " is 0700");
        }
        assertEquals("rw-------", mode(stateDir.resolve(id).resolve("sandbox.json")));
        assertEquals("rw-------", mode(run.resolve("infra/config.json")));
        for (String f : List.of("hosts", "resolv.conf", "hostname")) {
            assertEquals("rw-r--r--", mode(run.resolve(f)), f + " is read by the container's users");
        }
        assertEquals("rwxr-xr-x", mode(runRoot.resolve("infra/rootfs")), "the infra process's /");
    }

    @Test
    void directoriesAnOlderBerthLeftOpenAreClosedOnStart() throws IOException {
        List<Path> dirs = List.of(stateDir, runRoot.resolve("sandboxes"), runRoot.resolve("infra"));
        for (Path d : dirs) {
            Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        newService(runtime.handlers());
        for (Path d : dirs) {
            assertEquals("rwx------", mode(d), d + " is closed again");
        }
    }

    @Test
    void aShmLargerThanThePodsMemoryLimitOrHalfTheHostsMemoryIsRefused() throws IOException {
        SandboxConfig c = pod("shm", NamespaceOptions.DEFAULT, "");
        Resources limited = new Resources(null, null, null, null, null, 256L << 20, null, null, null, null, null);
        for (SandboxConfig bad : List.of(withShmAndLogs(c, limited, 512L << 20, ""),
                withShmAndLogs(c, null, Long.MAX_VALUE / 2, ""))) {
            BerthException e = assertThrows(BerthException.class, () -> service.run(bad));
            assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind(), e.getMessage());
        }
        assertNothingLeft();
        String id = service.run(withShmAndLogs(c, limited, 128L << 20, ""));
        assertEquals(SandboxState.READY, service.status(id, false).state(), "within the pod's limit");
        String small = service.run(withShmAndLogs(pod("small", NamespaceOptions.DEFAULT, ""),
                new Resources(null, null, null, null, null, 16L << 20, null, null, null, null, null), 0, ""));
        assertEquals(SandboxState.READY, service.status(small, false).state(), "the default size is always allowed");
    }

    @Test
    void aLogDirectoryMustBeAbsoluteAndClean() throws IOException {
        SandboxConfig c = pod("logs", NamespaceOptions.DEFAULT, "");
        for (String bad : List.of("relative/logs", "/var/log/pods/../../etc", "/var/log/./pods", "/var/log\0/pods")) {
            BerthException e = assertThrows(BerthException.class, () -> service.run(withShmAndLogs(c, null, 0, bad)), bad);
            assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind(), bad + ": " + e.getMessage());
        }
        assertNothingLeft();
        assertEquals(SandboxState.READY, service.status(service.run(withShmAndLogs(c, null, 0, "/var/log/pods/x")), false)
                .state());
    }

    @Test
    void aPodWithoutPidNamespaceOrCgroupHasNoInfraProcessAndNoCgroup() {
        String id = service.run(pod("plain", NamespaceOptions.DEFAULT, ""));
        assertEquals(List.of("namespaces [NET, IPC, UTS] (recorded)", "attach (recorded)"), steps);
        assertEquals(List.of(), runtime.calls());
        assertEquals(0, service.podContext(id).infraPid());
        assertEquals(SandboxState.READY, service.status(id, false).state());
    }

    @Test
    void aFailedNamespacePinLeavesNothing() throws IOException {
        namespaces.failNext();
        assertThrows(BerthException.class, () -> service.run(fullPod("web")));
        assertNothingLeft();
        assertEquals(List.of("namespaces [NET, IPC, UTS] (recorded)"), steps, "nothing after the failed step ran");
    }

    @Test
    void sysctlsAreWrittenInThePinnedNamespacesBeforeTheCgroupAndTheNetwork() {
        SandboxConfig c = fullPod("web");
        SandboxConfig withSysctls = new SandboxConfig(c.metadata(), c.hostname(), c.logDirectory(), c.dns(),
                c.portMappings(), c.labels(), c.annotations(), c.cgroupParent(),
                Map.of("net.ipv4.ip_unprivileged_port_start", "0", "kernel.shmmni", "8192"), c.namespaces(), null, null, 0, "");
        service.run(withSysctls);
        assertEquals(List.of("namespaces [NET, IPC, UTS] (recorded)", "sysctls [NET, IPC]", "cgroup /kubepods",
                "attach (recorded)", "run ID"), steps);
        assertEquals(List.of(Map.of("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0", "/proc/sys/kernel/shmmni", "8192")),
                namespaces.written());
    }

    @Test
    void aFailedSysctlReleasesTheNamespacesAndLeavesNothing() throws IOException {
        SandboxConfig c = fullPod("web");
        SandboxConfig withSysctls = new SandboxConfig(c.metadata(), c.hostname(), c.logDirectory(), c.dns(),
                c.portMappings(), c.labels(), c.annotations(), c.cgroupParent(),
                Map.of("net.ipv4.ip_unprivileged_port_start", "0"), c.namespaces(), null, null, 0, "");
        namespaces.failNextWrite();
        BerthException e = assertThrows(BerthException.class, () -> service.run(withSysctls));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        assertTrue(e.getMessage().startsWith("cannot apply sysctls {net.ipv4.ip_unprivileged_port_start=0}: "), e.getMessage());
        assertNothingLeft();
        assertEquals(List.of("namespaces [NET, IPC, UTS] (recorded)", "sysctls [NET, IPC]"), steps);
    }

    @Test
    void aFailedShmMountReleasesThePinsAndLeavesNothing() throws IOException {
        mounts.failNext("tmpfs");
        assertThrows(BerthException.class, () -> service.run(fullPod("web")));
        assertNothingLeft();
    }

    @Test
    void aFailedCgroupCreationReleasesTheNamespacesAndLeavesNothing() throws IOException {
        cgroups.failCreate = true;
        BerthException e = assertThrows(BerthException.class, () -> service.run(fullPod("web")));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind(), "the step's own error reaches the caller");
        assertNothingLeft();
        assertFalse(steps.contains("attach (recorded)"));
    }

    @Test
    void aFailedNetworkAttachRemovesTheCgroupAndLeavesNothing() throws IOException {
        network.failAttach = true;
        BerthException e = assertThrows(BerthException.class, () -> service.run(fullPod("web")));
        assertEquals(BerthException.Kind.UNAVAILABLE, e.kind());
        assertNothingLeft();
        assertEquals(List.of("namespaces [NET, IPC, UTS] (recorded)", "cgroup /kubepods", "attach (recorded)", "detach",
                "remove cgroup"), steps, "undone in reverse: the network (even half attached), then the cgroup");
    }

    @Test
    void aFailedInfraStartDeletesItDetachesTheNetworkAndLeavesNothing() throws IOException {
        runtime.failNext("run");
        BerthException e = assertThrows(BerthException.class, () -> service.run(fullPod("web")));
        assertEquals(BerthException.Kind.INTERNAL, e.kind());
        assertNothingLeft();
        assertEquals(List.of("namespaces [NET, IPC, UTS] (recorded)", "cgroup /kubepods", "attach (recorded)", "run ID",
                "forceDelete ID", "detach", "remove cgroup"), steps);
    }

    @Test
    void aRunThatFailedFreesThePodsNameForTheNextAttempt() {
        network.failAttach = true;
        assertThrows(BerthException.class, () -> service.run(fullPod("web")));
        network.failAttach = false;
        String id = service.run(fullPod("web"));
        assertEquals(SandboxState.READY, service.status(id, false).state());
    }

    @Test
    void anUnknownRuntimeHandlerIsRefusedBeforeAnythingIsCreated() throws IOException {
        SandboxConfig c = fullPod("web");
        SandboxConfig other = new SandboxConfig(c.metadata(), c.hostname(), c.logDirectory(), c.dns(), c.portMappings(),
                c.labels(), c.annotations(), c.cgroupParent(), c.sysctls(), c.namespaces(), null, null, 0, "kata");
        BerthException e = assertThrows(BerthException.class, () -> service.run(other));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        assertTrue(e.getMessage().contains("unknown runtime handler \"kata\""), e.getMessage());
        assertEquals(List.of(), steps);
        assertNothingLeft();
    }

    /** What a run whose undoing failed leaves: what the failure is, what of the pod it left behind. */
    enum FailedUndo { NETWORK_DETACH, CGROUP_REMOVAL, UNMOUNT }

    /** A run that fails at its last step (the infra process) and whose undoing fails at {@code how}. */
    String runWhoseUndoFails(FailedUndo how) {
        runtime.failNext("run");
        switch (how) {
            case NETWORK_DETACH -> network.failNextDetaches.set(1);
            case CGROUP_REMOVAL -> cgroups.failNextRemoves.set(1);
            case UNMOUNT -> failNextUnmounts.set(1);
        }
        BerthException e = assertThrows(BerthException.class, () -> service.run(fullPod("web")));
        assertEquals(BerthException.Kind.INTERNAL, e.kind(), "the run's own failure reaches the caller");
        assertTrue(e.getSuppressed().length > 0, "with the failed undo attached");
        switch (how) {
            case NETWORK_DETACH -> assertEquals(1, network.attached.size(), "the network stays attached");
            case CGROUP_REMOVAL -> assertEquals(1, cgroups.pods.size(), "the pod cgroup stays");
            case UNMOUNT -> assertFalse(mounts.mounted().isEmpty(), "pins stay mounted");
        }
        List<SandboxStatus> listed = service.list(SandboxFilter.ALL);
        assertEquals(1, listed.size(), how + ": the record is kept for StopPodSandbox and RemovePodSandbox");
        assertEquals(SandboxState.NOTREADY, listed.get(0).state());
        return listed.get(0).id();
    }

    @Test
    void aRunWhoseUndoFailedIsKeptNotReadyAndStopAndRemoveReleaseWhatItLeft() throws IOException {
        for (FailedUndo how : FailedUndo.values()) {
            String id = runWhoseUndoFails(how);
            service.stop(id);
            service.remove(id);
            assertNothingLeft();
        }
    }

    @Test
    void aRunWhoseUndoFailedIsKeptAcrossARestartAndItsRemovalReleasesWhatItLeft() throws IOException {
        for (FailedUndo how : FailedUndo.values()) {
            String id = runWhoseUndoFails(how);
            service = newService(runtime.handlers());
            service.recover();
            assertEquals(SandboxState.NOTREADY, service.status(id, false).state(), how.toString());
            service.remove(id);
            assertNothingLeft();
        }
    }

    @Test
    void aRunWhoseUndoFailedKeepsItsNameUntilRemovedAndANewAttemptRuns() {
        String kept = runWhoseUndoFails(FailedUndo.NETWORK_DETACH);
        BerthException e = assertThrows(BerthException.class, () -> service.run(fullPod("web")));
        assertEquals(BerthException.Kind.ALREADY_EXISTS, e.kind());
        SandboxConfig c = fullPod("web");
        SandboxConfig next = new SandboxConfig(new SandboxConfig.Metadata("web", "uid-web", "default", 1), c.hostname(),
                c.logDirectory(), c.dns(), c.portMappings(), c.labels(), c.annotations(), c.cgroupParent(), c.sysctls(),
                c.namespaces(), null, null, 0, "");
        String id = service.run(next);
        assertEquals(SandboxState.READY, service.status(id, false).state(), "the kubelet's next attempt");
        service.remove(kept);
        assertEquals(SandboxState.READY, service.status(id, false).state());
    }

    @Test
    void aCrashJustAfterThePodCgroupWasCreatedLeavesARecordThatNamesIt() throws IOException {
        for (NamespaceOptions ns : List.of(fullPod("web").namespaces(),
                new NamespaceOptions(NamespaceMode.NODE, NamespaceMode.CONTAINER, NamespaceMode.NODE, ""))) {
            crashAfterCgroup = true;
            assertThrows(SimulatedCrash.class, () -> service.run(pod("web", ns, "/kubepods/podweb")));
            crashAfterCgroup = false;
            assertEquals(Set.of("/kubepods/podweb"), cgroups.pods.keySet(), "the crash left the cgroup");
            service = newService(runtime.handlers());
            service.recover();
            List<SandboxStatus> listed = service.list(SandboxFilter.ALL);
            assertEquals(1, listed.size(), "a record still CREATING is kept, as NOTREADY, for RemovePodSandbox");
            service.remove(listed.get(0).id());
            assertNothingLeft();
        }
    }

    // ---------------------------------------------------------------- Stop and Remove

    @Test
    void stopDeletesTheInfraProcessAndDetachesOnceAndASecondStopDoesNothing() {
        String id = service.run(fullPod("web"));
        steps.clear();
        service.stop(id);
        assertEquals(List.of("forceDelete ID", "detach"), steps);
        assertEquals(SandboxState.NOTREADY, service.status(id, false).state());
        assertEquals(List.of(), processes.running(), "the infra process is gone");
        service.stop(id);
        assertEquals(List.of("forceDelete ID", "detach"), steps, "nothing is stopped twice");
        assertEquals(4, mounts.mounted().size(), "stop keeps the namespaces and /dev/shm for removal");
    }

    @Test
    void stopKillsTheInfraProcessItselfSoThatTheRuntimeDeletesAStoppedContainer() {
        String id = service.run(fullPod("web"));
        long infra = service.podContext(id).infraPid();
        List<Boolean> aliveAtDelete = new ArrayList<>();
        runtime.observe(call -> {
            if (call.startsWith("forceDelete")) {
                aliveAtDelete.add(processes.command(infra).isPresent());
            }
        });
        service.stop(id);
        assertTrue(processes.signals().contains(new FakeProcesses.Signal(infra, 9, false)), processes.signals().toString());
        assertEquals(List.of(false), aliveAtDelete, "the runtime's forced delete finds the infra process gone");
    }

    @Test
    void stopSignalsNoProcessThatReusedTheInfraProcessPid() {
        String id = service.run(fullPod("web"));
        long infra = service.podContext(id).infraPid();
        processes.exit(infra);
        processes.spawn(infra, "unrelated");
        service.stop(id);
        assertEquals(List.of(), processes.signals(), "the pid's new owner is left alone");
    }

    @Test
    void aFailedNetworkTeardownFailsTheStopAndTheNextStopRetriesIt() {
        String id = service.run(fullPod("web"));
        network.failNextDetaches.set(1);
        assertThrows(BerthException.class, () -> service.stop(id));
        assertTrue(network.attached.containsKey(id));
        service.stop(id);
        assertFalse(network.attached.containsKey(id));
        assertEquals(2, network.detachCalls.get());
    }

    @Test
    void removeReleasesEverythingAndIsIdempotentAndStopOfARemovedSandboxIsSuccess() throws IOException {
        String id = service.run(fullPod("web"));
        service.remove(id);
        assertNothingLeft();
        steps.clear();
        service.remove(id);
        service.stop(id);
        service.remove("0123456789abcdef");
        service.stop("0123456789abcdef");
        assertEquals(List.of(), steps, "unknown and removed sandboxes cost nothing");
        assertEquals(BerthException.Kind.NOT_FOUND, assertThrows(BerthException.class, () -> service.status(id, false)).kind());
    }

    @Test
    void aSandboxIsStoppedThroughTheHandlerItRecordedEvenWhenTheConfigurationNoLongerListsIt() {
        String id = service.run(fullPod("web"));
        FakeOciRuntime crun = new FakeOciRuntime("crun", processes);
        List<String> built = new ArrayList<>();
        RuntimeHandlers onlyCrun = new RuntimeHandlers(Map.of("crun", crun.binary()), "crun", (handler, binary) -> {
            built.add(handler + " " + binary);
            return handler.equals("crun") ? crun : runtime;
        });
        SandboxService restarted = newService(onlyCrun);
        restarted.recover();
        steps.clear();
        restarted.stop(id);
        assertEquals(List.of("crun fake-crun", "runc fake-runc"), built, "the recorded handler and binary");
        assertEquals(List.of("forceDelete ID", "detach"), steps);
        assertEquals(List.of(), crun.calls());
    }

    // ---------------------------------------------------------------- recovery

    @Test
    void aRunThatACrashCutShortIsNotReadyAfterRestartAndItsRemovalReleasesWhatItLeft() throws IOException {
        network = new FakePodNetwork(false) {
            @Override
            public PodNetworkStatus attach(PodAttachment a) {
                super.attach(a);
                throw new SimulatedCrash();
            }
        };
        SandboxService dying = newService(runtime.handlers());
        assertThrows(SimulatedCrash.class, () -> dying.run(fullPod("web")));
        assertFalse(mounts.mounted().isEmpty(), "the crash left pins behind");
        assertEquals(1, cgroups.pods.size(), "and a cgroup");
        FakePodNetwork crashed = network;
        SandboxService restarted = newService(runtime.handlers());
        restarted.recover();
        List<SandboxStatus> listed = restarted.list(SandboxFilter.ALL);
        assertEquals(1, listed.size(), "a record still CREATING is kept, as NOTREADY, for RemovePodSandbox");
        assertEquals(SandboxState.NOTREADY, listed.get(0).state());
        restarted.remove(listed.get(0).id());
        assertEquals(List.of(), mounts.mounted());
        assertEquals(Map.of(), cgroups.pods);
        assertEquals(Map.of(), crashed.attached, "the record said the network was attached: it is detached");
        assertEquals(List.of(), listing(stateDir));
    }

    @Test
    void aReadySandboxWhoseInfraProcessDiedReportsNotReadyWithoutAnyoneRecordingIt() {
        String id = service.run(fullPod("web"));
        processes.exit(service.podContext(id).infraPid());
        assertEquals(SandboxState.NOTREADY, service.status(id, false).state());
        SandboxService restarted = newService(runtime.handlers());
        restarted.recover();
        assertEquals(SandboxState.NOTREADY, restarted.status(id, false).state());
        assertEquals(List.of(id), restarted.list(SandboxFilter.ALL).stream().map(SandboxStatus::id).toList(),
                "the sandbox is kept for the kubelet to stop and remove");
    }

    @Test
    void recoveryKeepsALiveSandboxReadyAndTurnsOneWhosePinsAreGoneNotReady() {
        String alive = service.run(fullPod("alive"));
        String lost = service.run(pod("lost", NamespaceOptions.DEFAULT, ""));
        // a reboot wiped the run root: the pins of "lost" are no longer mounted
        mounts.unmountAllUnder(runRoot.resolve("sandboxes").resolve(lost));
        SandboxService restarted = newService(runtime.handlers());
        assertEquals(2, restarted.recover());
        assertEquals(SandboxState.READY, restarted.status(alive, false).state());
        assertEquals(SandboxState.NOTREADY, restarted.status(lost, false).state());
        assertTrue(network.attached.containsKey(alive), "the network of a sandbox berth knows is not collected");
    }

    @Test
    void recoveryCollectsTheNetworkOfSandboxesBerthNoLongerKnows() {
        network.attached.put("forgotten", "10.77.0.9");
        String id = service.run(pod("web", NamespaceOptions.DEFAULT, ""));
        newService(runtime.handlers()).recover();
        assertEquals(List.of(id), List.copyOf(network.attached.keySet()));
    }
}
