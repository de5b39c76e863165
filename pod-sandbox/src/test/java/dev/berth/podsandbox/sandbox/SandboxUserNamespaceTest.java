package dev.berth.podsandbox.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.common.PrivateFiles;
import dev.berth.host.Command;
import dev.berth.host.LinuxMounts;
import dev.berth.host.LinuxNamespaces;
import dev.berth.host.LinuxProcesses;
import dev.berth.images.reference.Digest;
import dev.berth.images.store.ImageRecord;
import dev.berth.podsandbox.container.ContainerImages;
import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.ContainerRecord;
import dev.berth.podsandbox.container.ContainerRootfs;
import dev.berth.podsandbox.container.ContainerService;
import dev.berth.podsandbox.container.ExecResult;
import dev.berth.podsandbox.container.ImageVolumes;
import dev.berth.podsandbox.container.NewContainer;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.HostFacts;
import dev.berth.podsandbox.container.spec.ImageConfig;
import dev.berth.podsandbox.idmap.IdMapper;
import dev.berth.podsandbox.oci.ConmonRuntime;
import dev.berth.podsandbox.oci.RuntimeHandlers;
import dev.berth.podsandbox.sandbox.SandboxConfig.NamespaceMode;
import dev.berth.podsandbox.sandbox.SandboxConfig.NamespaceOptions;
import dev.berth.podsandbox.sandbox.SandboxConfig.UserNamespace;
import dev.berth.podsandbox.testing.FakeCgroups;
import dev.berth.podsandbox.testing.FakePodNetwork;
import dev.berth.podsandbox.testing.HostProbe;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pods in a user namespace of their own against real namespaces, idmapped mounts, runc and
 * conmon (root), with fake network and cgroups and a one-layer busybox image: RemovePodSandbox
 * releases the user namespace's pin, the idmapped views of the pod's files and its containers'
 * root filesystems; a RunPodSandbox that fails half-way leaves nothing, and one a crash cut
 * short is NOTREADY after a restart and its removal releases what it left; where nothing is
 * idmapped the pod's files and root filesystem are chowned instead; after a crash a pod is found
 * again with its containers still working, and a pod whose user namespace pin is gone is
 * NOTREADY.
 */
@Tag("root")
class SandboxUserNamespaceTest {
    /** Far above any real user of this host. */
    static final long HOST_ID = 1_600_000_000L;
    static final ContainerConfig.IdMapping MAPPING = new ContainerConfig.IdMapping(0, HOST_ID, 65536);
    static final UserNamespace USERNS = new UserNamespace(NamespaceMode.POD, List.of(MAPPING), List.of(MAPPING));
    static final Path CONMON = Path.of("/usr/bin/conmon");

    @TempDir
    Path tmp;

    Path base;
    Path stateDir;
    Path runRoot;
    Path layer;
    FakePodNetwork network;
    FakeCgroups cgroups;
    final List<ContainerManager> managers = new ArrayList<>();
    final List<SandboxService> services = new ArrayList<>();
    final Set<String> holds = ConcurrentHashMap.newKeySet();

    /** The daemon's parts that know pods and containers. */
    record Berth(SandboxService sandboxes, ContainerService containers) {
    }

    @BeforeEach
    void setUp() throws IOException {
        // the OCI runtime resolves a user-namespaced pod's root filesystems from inside its user
        // namespace, as any user of the host: the run root must be traversable (JUnit makes 0700)
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx--x--x"));
        base = tmp;
        stateDir = base.resolve("state");
        runRoot = base.resolve("run");
        network = new FakePodNetwork();
        cgroups = new FakeCgroups();
        layer = busyboxLayer(base.resolve("layer"));
        // as the daemon makes its root and run root
        PrivateFiles.directory(stateDir, PrivateFiles.TRAVERSABLE);
        PrivateFiles.directory(runRoot, PrivateFiles.TRAVERSABLE);
    }

    static Path busyboxLayer(Path dir) throws IOException {
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
        for (String app : List.of("sh", "cat", "sleep", "id", "stat", "echo")) {
            Files.createSymbolicLink(bin.resolve(app), Path.of("busybox"));
        }
        for (String d : List.of("etc", "proc", "sys", "dev", "tmp")) {
            Files.createDirectories(dir.resolve(d));
        }
        return dir;
    }

    Berth berth(Map<String, String> binaries) {
        return berth(binaries, IdMapper.HOST);
    }

    /** With {@code idMapper}: {@link IdMapper#NONE} takes the chown fallback of filesystems without idmapped mounts. */
    Berth berth(Map<String, String> binaries, IdMapper idMapper) {
        RuntimeHandlers handlers = new RuntimeHandlers(binaries, "runc",
                ConmonRuntime.factory(CONMON, runRoot.resolve("runtimes"), Duration.ofSeconds(60), Path::of));
        ContainerManager manager = new ContainerManager(stateDir, runRoot, handlers, HostFacts.current(), rec -> false,
                ContainerManager.Options.defaults());
        managers.add(manager);
        ContainerImages images = images();
        ContainerService containers = new ContainerService(manager, new ContainerRootfs(stateDir.resolve("container-layers"),
                runRoot.resolve("rootfs"), LinuxMounts.INSTANCE, idMapper), images,
                new ImageVolumes(runRoot.resolve("image-volumes"), images), cgroups);
        containers.recover();
        SandboxService sandboxes = new SandboxService(stateDir.resolve("sandboxes"), runRoot, handlers, network, cgroups, containers,
                LinuxMounts.INSTANCE, LinuxNamespaces.INSTANCE, LinuxProcesses.INSTANCE, idMapper);
        containers.usePods(sandboxes::podContext);
        services.add(sandboxes);
        sandboxes.recover();
        return new Berth(sandboxes, containers);
    }

    Berth berth() {
        return berth(IdMapper.HOST);
    }

    Berth berth(IdMapper idMapper) {
        return berth(Map.of("runc", "/usr/sbin/runc", "broken", "/bin/false"), idMapper);
    }

    /** One image, whose one layer is {@link #layer}. */
    ContainerImages images() {
        Digest id = Digest.sha256("busybox".getBytes(StandardCharsets.UTF_8));
        ImageRecord image = new ImageRecord(id, List.of("test/busybox:1"), List.of(), 0, id,
                "application/vnd.oci.image.manifest.v1+json", null, List.of(), List.of(), List.of(), "", 0, "", false,
                Map.of(), 0);
        return new ContainerImages() {
            @Override
            public ImageRecord require(String ref) {
                return find(ref).orElseThrow(() -> BerthException.notFound("image %s not found", ref));
            }

            @Override
            public Optional<ImageRecord> find(String ref) {
                return ref.equals("test/busybox:1") ? Optional.of(image) : Optional.empty();
            }

            @Override
            public ImageConfig config(ImageRecord image) {
                return ImageConfig.empty();
            }

            @Override
            public List<Path> lowerDirs(Digest imageId) {
                return List.of(layer);
            }

            @Override
            public void hold(String containerId, Digest imageId) {
                holds.add(containerId);
            }

            @Override
            public void release(String containerId) {
                holds.remove(containerId);
            }

            @Override
            public Set<String> holders() {
                return Set.copyOf(holds);
            }
        };
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
        managers.forEach(ContainerManager::close);
        // whatever a failed test left: containers and monitors, then mounts, before the temp dir is deleted
        Path runtimes = runRoot.resolve("runtimes");
        if (Files.isDirectory(runtimes)) {
            try (Stream<Path> handlers = Files.list(runtimes)) {
                for (Path h : handlers.toList()) {
                    try (Stream<Path> ids = Files.list(h)) {
                        for (Path id : ids.toList()) {
                            Command.run(h.getFileName().toString(), "--root", h.toString(), "delete", "--force",
                                    id.getFileName().toString());
                        }
                    }
                }
            }
        }
        LinuxMounts.INSTANCE.unmountAllUnder(tmp);
    }

    static SandboxConfig pod(String name, String handler) {
        return new SandboxConfig(new SandboxConfig.Metadata(name, "uid-" + name, "default", 0), name, "",
                SandboxConfig.Dns.NONE, List.of(), Map.of(), Map.of(), "/kubepods", Map.of(),
                new NamespaceOptions(NamespaceMode.POD, NamespaceMode.POD, NamespaceMode.POD, "", USERNS), null, null, 0, handler);
    }

    static NewContainer container(String pod, String name) {
        return new NewContainer(pod, "test/busybox:1", "", null, "",
                log -> ContainerConfig.builder(name).command("sleep").args("1000").build(), USERNS);
    }

    static String exec(ContainerService containers, String id, String... cmd) {
        ExecResult r = containers.execSync(id, List.of(cmd), Duration.ofSeconds(30));
        assertEquals(0, r.exitCode(), String.join(" ", cmd) + ": " + new String(r.stderr(), StandardCharsets.UTF_8));
        return new String(r.stdout(), StandardCharsets.UTF_8).strip().replaceAll("\\s+", " ");
    }

    static long hostUid(long pid) throws IOException {
        Matcher uid = Pattern.compile("(?m)^Uid:\\s+(\\d+)").matcher(Files.readString(Path.of("/proc/" + pid + "/status")));
        assertTrue(uid.find());
        return Long.parseLong(uid.group(1));
    }

    List<String> dirEntries(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void removeReleasesTheUserPinTheIdmappedViewsAndTheContainersRootFilesystems() throws Exception {
        Berth b = berth();
        String pod = b.sandboxes().run(pod("mapped", ""));
        Path dir = runRoot.resolve("sandboxes").resolve(pod);
        PodContext ctx = b.sandboxes().podContext(pod);
        assertEquals(dir.resolve("ns/user").toString(), ctx.usernsPath());
        long infra = ctx.infraPid();
        assertEquals(HOST_ID, hostUid(infra), "the infra process is the pod's root");
        // /tmp (ext4) and /dev/shm (tmpfs) take idmapped mounts on this kernel
        List<String> mounted = HostProbe.mountsUnder(dir);
        for (String m : List.of("ns/user", "etc-mapped", "shm", "shm-mapped")) {
            assertTrue(mounted.contains(dir.resolve(m).toString()), m + " mounted: " + mounted);
        }

        ContainerRecord c = b.containers().create(container(pod, "app"));
        b.containers().start(c.id());
        long pid = b.containers().status(c.id()).record().pid();
        assertEquals(HOST_ID, hostUid(pid));
        assertEquals("0 " + HOST_ID + " 65536", exec(b.containers(), c.id(), "cat", "/proc/self/uid_map"));
        assertEquals("0:0 0:0 0:0 0:0", exec(b.containers(), c.id(), "stat", "-c", "%u:%g", "/bin/busybox", "/etc/hosts",
                "/etc/hostname", "/dev/shm"));
        assertEquals(List.of(c.id()), dirEntries(runRoot.resolve("rootfs-userns")), "the container's root filesystem");
        assertEquals(List.of("rootfs"), dirEntries(runRoot.resolve("infra-userns")), "the infra root filesystem (catatonit), shared");

        b.sandboxes().remove(pod);

        assertEquals(List.of(), HostProbe.mountsUnder(runRoot), "no pin, view or root filesystem left mounted");
        assertFalse(HostProbe.alive(infra), "the infra process is gone");
        assertFalse(HostProbe.alive(pid), "the container's process is gone");
        assertFalse(Files.exists(dir), "no run directory left");
        assertEquals(List.of(), dirEntries(runRoot.resolve("rootfs-userns")), "no root filesystem directory left");
        assertEquals(List.of("rootfs"), dirEntries(runRoot.resolve("infra-userns")), "only the shared infra root filesystem stays");
        assertEquals(Set.of(), holds, "the image is no longer held");
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            assertFalse(line.contains(pod), "nothing of the pod is mounted anywhere: " + line);
        }
    }

    @Test
    void aRunThatFailsHalfWayLeavesNoPinNoViewNoProcess() throws Exception {
        Berth b = berth();
        // the infra process is the last step: a runtime that fails it has every earlier step undone
        BerthException e = assertThrows(BerthException.class, () -> b.sandboxes().run(pod("broken", "broken")));
        assertTrue(e.getMessage().contains("/bin/false") || e.getMessage().contains("broken"), e.getMessage());
        assertEquals(List.of(), HostProbe.mountsUnder(tmp));
        assertEquals(List.of(), b.sandboxes().list(SandboxFilter.ALL));
        assertEquals(List.of(), dirEntries(runRoot.resolve("sandboxes")));
        assertEquals(List.of(), dirEntries(stateDir.resolve("sandboxes")));
        assertTrue(network.attached.isEmpty());
        assertTrue(cgroups.pods.isEmpty(), cgroups.pods.toString());

        // and a failure before the infra process (the network attach)
        network.failAttach = true;
        assertThrows(BerthException.class, () -> b.sandboxes().run(pod("no-network", "")));
        assertEquals(List.of(), HostProbe.mountsUnder(tmp));
        assertEquals(List.of(), dirEntries(runRoot.resolve("sandboxes")));
        network.failAttach = false;

        // the name is free again and a pod runs
        String pod = b.sandboxes().run(pod("broken", ""));
        assertEquals(SandboxState.READY, b.sandboxes().status(pod, false).state());
    }

    @Test
    void whereNothingIsIdmappedThePodsFilesAndRootFilesystemAreChownedIntoItsRangeAndTheLayerStaysHostRoots() throws Exception {
        // the fallback for filesystems without idmapped mounts (tmpfs before Linux 6.3, or older kernels)
        Berth b = berth(IdMapper.NONE);
        String pod = b.sandboxes().run(pod("chowned", ""));
        Path dir = runRoot.resolve("sandboxes").resolve(pod);
        assertFalse(Files.exists(dir.resolve("etc-mapped")), "no idmapped views");
        assertFalse(Files.exists(dir.resolve("shm-mapped")));
        for (String f : List.of("etc/hosts", "etc/hostname", "etc/resolv.conf", "shm")) {
            assertEquals((int) HOST_ID, Files.getAttribute(dir.resolve(f), "unix:uid"), f + " chowned to the pod's root");
        }

        ContainerRecord c = b.containers().create(container(pod, "app"));
        b.containers().start(c.id());
        assertEquals("0:0 0:0 0:0 0:0 0:0 0:0", exec(b.containers(), c.id(), "stat", "-c", "%u:%g", "/", "/bin/busybox",
                "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev/shm"));
        exec(b.containers(), c.id(), "sh", "-c", "echo x > /new && echo y > /dev/shm/new && echo z >> /etc/hosts");
        assertEquals(0, (int) Files.getAttribute(layer.resolve("bin/busybox"), "unix:uid"), "the image's layer is not touched");
        assertEquals(List.of(), HostProbe.mountsUnder(runRoot.resolve("rootfs-userns")).stream()
                .filter(m -> m.contains("/lowers/")).toList(), "no idmapped layer");

        b.sandboxes().remove(pod);
        assertEquals(List.of(), HostProbe.mountsUnder(runRoot));
        assertEquals(List.of(), dirEntries(runRoot.resolve("rootfs-userns")));
    }

    /** Stands for the daemon dying in the middle of a call: nothing catches it, nothing is undone. */
    static final class SimulatedCrash extends Error {
        private static final long serialVersionUID = 1L;
    }

    @Test
    void aCrashInTheMiddleOfARunLeavesAPodThatIsNotReadyAfterRestartAndWhoseRemovalReleasesTheUserPin() throws Exception {
        network = new FakePodNetwork() {
            @Override
            public PodNetworkStatus attach(PodAttachment a) {
                super.attach(a);
                throw new SimulatedCrash();
            }
        };
        Berth dying = berth();
        assertThrows(SimulatedCrash.class, () -> dying.sandboxes().run(pod("crashed", "")));
        List<String> left = HostProbe.mountsUnder(runRoot);
        assertTrue(left.stream().anyMatch(m -> m.endsWith("/ns/user")), "the crash left the user pin: " + left);
        assertTrue(left.stream().anyMatch(m -> m.endsWith("/etc-mapped")), "and the idmapped view: " + left);

        Berth restarted = berth();
        List<SandboxStatus> listed = restarted.sandboxes().list(SandboxFilter.ALL);
        assertEquals(1, listed.size());
        assertEquals(SandboxState.NOTREADY, listed.get(0).state());
        restarted.sandboxes().remove(listed.get(0).id());
        assertEquals(List.of(), HostProbe.mountsUnder(runRoot), "no pin or view left");
        assertTrue(network.attached.isEmpty(), "the network the crash attached is detached");
        assertEquals(List.of(), dirEntries(runRoot.resolve("sandboxes")));
    }

    @Test
    void afterACrashThePodIsFoundAndItsContainersWorkAndAPodWhoseUserPinIsGoneIsNotReady() throws Exception {
        Berth before = berth();
        String kept = before.sandboxes().run(pod("kept", ""));
        String lost = before.sandboxes().run(pod("lost", ""));
        ContainerRecord c = before.containers().create(container(kept, "app"));
        before.containers().start(c.id());
        long pid = before.containers().status(c.id()).record().pid();
        // the crash: nothing is stopped or released; the daemon's threads end with it
        managers.forEach(ContainerManager::close);
        managers.clear();
        // what a reboot would take from the second pod: its user namespace (its pin)
        Path lostPin = runRoot.resolve("sandboxes").resolve(lost).resolve("ns/user");
        LinuxMounts.INSTANCE.unmount(lostPin);

        Berth after = berth();
        assertEquals(SandboxState.READY, after.sandboxes().status(kept, false).state());
        assertEquals(SandboxState.NOTREADY, after.sandboxes().status(lost, false).state(), "its user namespace is gone");
        assertEquals(USERNS, after.sandboxes().status(kept, false).namespaces().user());
        assertTrue(HostProbe.alive(pid), "the container runs on");
        assertEquals("0 " + HOST_ID + " 65536", exec(after.containers(), c.id(), "cat", "/proc/self/uid_map"));
        assertEquals("0:0", exec(after.containers(), c.id(), "stat", "-c", "%u:%g", "/etc/hosts"));
        // and the pod takes new containers, which join its user namespace
        ContainerRecord second = after.containers().create(container(kept, "second"));
        after.containers().start(second.id());
        assertEquals(HOST_ID, hostUid(after.containers().status(second.id()).record().pid()));
        assertEquals(HostProbe.nsId("user", Path.of("/proc/" + pid + "/ns/user")),
                HostProbe.nsId("user", Path.of("/proc/" + after.containers().status(second.id()).record().pid() + "/ns/user")),
                "one user namespace for the pod");
        // a NOTREADY pod takes none
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, assertThrows(BerthException.class,
                () -> after.containers().create(container(lost, "late"))).kind());

        after.sandboxes().remove(lost);
        after.sandboxes().remove(kept);
        assertEquals(List.of(), HostProbe.mountsUnder(runRoot));
        assertFalse(HostProbe.alive(pid));
        assertEquals(List.of(), dirEntries(runRoot.resolve("rootfs-userns")));
    }
}
