package dev.berth.e2e.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.berth.cli.Daemon;
import dev.berth.cli.config.BerthConfig;
import dev.berth.cli.config.ConfigLoader;
import dev.berth.cli.logging.Logging;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.IDMapping;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.LinuxContainerConfig;
import dev.berth.cri.v1.LinuxContainerSecurityContext;
import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxSandboxSecurityContext;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.Mount;
import dev.berth.cri.v1.MountPropagation;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.RuntimeHandler;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StatusRequest;
import dev.berth.cri.v1.StatusResponse;
import dev.berth.cri.v1.UserNamespace;
import dev.berth.images.ImageService;
import dev.berth.images.archive.ImageArchive;
import dev.berth.images.registry.Platform;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs in the cgroup v2 guest (see {@link CriFeaturesGuestTest}): formats the scratch disk as
 * ext4, puts berth's root and run root on it (so the image layers and the pod files are on a
 * file system Linux 6.1 idmaps, while each pod's /dev/shm is a tmpfs, which 6.1 does not),
 * starts the daemon in this JVM (one JVM start less under emulation), imports busybox and checks
 * through the CRI socket, each check on its own and reporting PASS or FAIL with the reason:
 * <ul>
 * <li>Status lists crun (it runs here), and prints its whole features table;</li>
 * <li>with runc and with crun: a pod in a user namespace of its own (POD mode), its maps, root
 * inside being the mapped uid outside, its root filesystem and pod files owned by its root
 * (idmapped on ext4, /dev/shm chowned as tmpfs cannot be), and an idmapped CRI mount of a
 * directory of host root on the ext4 disk owned by root inside;</li>
 * <li>a recursive read-only mount with runc, and with crun as Status offers it (refused with
 * INVALID_ARGUMENT where it does not).</li>
 * </ul>
 * Afterwards nothing of berth is left mounted and the disk is unmounted. Exits 0 and prints
 * {@link #PASSED} only when every check passed.
 */
public final class CriFeaturesGuestMain {
    static final String PASSED = "guest: all CRI feature checks passed";
    /** The system property naming the busybox archive the host wrote. */
    static final String ARCHIVE_PROPERTY = "berth.guest.busybox";
    private static final Path DISK = Path.of("/dev/vda");
    private static final Path MNT = Path.of("/mnt/berth-ext4");
    private static final String IMAGE = "docker.io/e2e/busybox:1";
    /** Far above any real user. */
    private static final int HOST_ID = 1_500_000_000;
    private static final IDMapping MAPPING = IDMapping.newBuilder().setContainerId(0).setHostId(HOST_ID).setLength(65536).build();

    private final List<String> failures = new ArrayList<>();
    private final long begun = System.nanoTime();
    private Path root;
    private Path runRoot;
    private Daemon.Running daemon;
    private ManagedChannel channel;
    private RuntimeServiceGrpc.RuntimeServiceBlockingStub cri;

    private CriFeaturesGuestMain() {
    }

    public static void main(String[] args) {
        CriFeaturesGuestMain m = new CriFeaturesGuestMain();
        ProcessHandle.current().info().startInstant().ifPresent(t -> System.out.printf("guest: main entered %.1f s after the JVM started%n",
                java.time.Duration.between(t, java.time.Instant.now()).toMillis() / 1e3));
        boolean ready = m.check("set-up (ext4 disk, busybox import, daemon)", m::setUp);
        if (ready) {
            // Status last: the daemon probes its handlers in the background meanwhile
            m.check("user namespace pod with runc", () -> m.usernsPod("runc"));
            m.check("user namespace pod with crun", () -> m.usernsPod("crun"));
            m.check("recursive read-only mount with runc", m::recursiveReadOnly);
            m.check("recursive read-only mount with crun as Status says", m::recursiveReadOnlyWithCrun);
            m.check("Status lists crun and its features", m::status);
        }
        m.check("clean-up (nothing left mounted)", m::tearDown);
        System.out.printf("guest: checks ran %.1f s%n", m.seconds());
        System.out.println(m.failures.isEmpty() ? PASSED : "guest: CRI feature checks FAILED: " + m.failures);
        System.exit(m.failures.isEmpty() ? 0 : 1);
    }

    @FunctionalInterface
    private interface Check {
        String run() throws Exception;
    }

    /** Runs one check, prints PASS or FAIL with its reason and time; true when it passed. */
    private boolean check(String name, Check c) {
        long start = System.nanoTime();
        try {
            String detail = c.run();
            System.out.printf("guest: PASS %s (%.1f s)%s%n", name, (System.nanoTime() - start) / 1e9,
                    detail == null || detail.isEmpty() ? "" : ": " + detail);
            return true;
        } catch (Throwable t) {
            System.out.printf("guest: FAIL %s (%.1f s): %s%n", name, (System.nanoTime() - start) / 1e9, t);
            t.printStackTrace(System.out);
            failures.add(name);
            return false;
        }
    }

    private double seconds() {
        return (System.nanoTime() - begun) / 1e9;
    }

    // ---------------------------------------------------------------- set-up and clean-up

    private String setUp() throws Exception {
        // no eager zeroing of inode tables and journal: the emulated disk is slow
        run("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", DISK.toString());
        Files.createDirectories(MNT);
        run("mount", "-t", "ext4", DISK.toString(), MNT.toString());
        // the OCI runtime resolves a user-namespaced pod's root filesystems as any user of the host
        Files.setPosixFilePermissions(MNT, PosixFilePermissions.fromString("rwx--x--x"));
        root = MNT.resolve("root");
        runRoot = MNT.resolve("run");
        String fs = run("stat", "-f", "-c", "%T", MNT.toString()).strip();
        assertTrue(fs.startsWith("ext2/ext3") || fs.equals("ext4"), fs);
        double formatted = seconds();
        Path config = MNT.resolve("berth.toml");
        Files.writeString(config, "[network]\ncni_config_dir = \"" + MNT.resolve("net.d") + "\"\n"
                + "default_bridge = \"berthgv0\"\ndefault_subnet = \"10.197.112.0/20\"\n");
        BerthConfig cfg = ConfigLoader.load(config, new BerthConfig.Overrides(root, runRoot, runRoot.resolve("berth.sock"),
                System.getProperty("berth.guest.log", "warn"), "text", ""));
        double loaded = seconds();
        Logging.configure(System.getProperty("berth.guest.log", "warn"), "text");
        double before = seconds();
        importBusybox(cfg);
        double imported = seconds();
        daemon = new Daemon(cfg).start();
        double started = seconds() - imported;
        channel = Grpc.newChannelBuilder("unix://" + runRoot.resolve("berth.sock"), InsecureChannelCredentials.create()).build();
        cri = RuntimeServiceGrpc.newBlockingStub(channel);
        return String.format("kernel %s, ext4 ready at %.1f s, config %.1f s, logging %.1f s, import %.1f s, daemon start %.1f s",
                run("uname", "-r").strip(), formatted, loaded - formatted, before - loaded, imported - before, started);
    }

    /**
     * Writes the busybox image as a docker save archive (on the host, before the guest boots:
     * building it in the emulated JVM took half a minute).
     */
    static void writeBusybox(Path archive) throws IOException {
        TestLayer layer = TestLayer.busybox();
        for (String applet : List.of("sleep", "cat", "id", "stat", "ls")) {
            layer.symlink("bin/" + applet, "busybox");
        }
        TestImage.of(layer.dir("etc", 0755).build(TestLayer.Compression.NONE)).writeDockerSave(archive, "e2e/busybox:1");
    }

    /** Imports the archive the host wrote (or writes one here) as {@code berth image import} does. */
    private void importBusybox(BerthConfig cfg) throws Exception {
        String given = System.getProperty(ARCHIVE_PROPERTY);
        Path archive = given != null ? Path.of(given) : MNT.resolve("busybox.tar");
        if (given == null) {
            writeBusybox(archive);
        }
        try (ImageService images = dev.berth.cli.Images.open(cfg)) {
            ImageArchive.importFile(images, archive, Platform.host());
        }
    }

    private String tearDown() throws Exception {
        List<String> problems = new ArrayList<>();
        if (cri != null) {
            try {
                for (Container c : cri.listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
                    cri.removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c.getId()).build());
                }
                for (PodSandbox p : cri.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                    cri.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                }
            } catch (RuntimeException e) {
                problems.add("removal failed: " + e);
            }
        }
        if (channel != null) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        if (daemon != null) {
            daemon.close();
        }
        List<String> left = mountsUnder(MNT);
        left.remove(MNT.toString());
        if (!left.isEmpty()) {
            problems.add("still mounted: " + left);
            for (int i = left.size() - 1; i >= 0; i--) {
                runQuietly("umount", "--lazy", left.get(i));
            }
        }
        if (!mountsUnder(MNT).isEmpty()) {
            runQuietly("umount", MNT.toString());
        }
        if (!mountsUnder(MNT).isEmpty()) {
            problems.add("the disk cannot be unmounted: " + mountsUnder(MNT));
        }
        assertEquals(List.of(), problems);
        return "";
    }

    // ---------------------------------------------------------------- Status

    private String status() throws Exception {
        StatusResponse r;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        do {
            r = cri.status(StatusRequest.newBuilder().setVerbose(true).build());
        } while (r.getInfoOrThrow("config").contains("probingRuntimeHandlers") && System.nanoTime() < deadline && pause());
        JsonNode info = new ObjectMapper().readTree(r.getInfoOrThrow("config"));
        StringBuilder table = new StringBuilder("guest: Status features table (Linux " + run("uname", "-r").strip()
                + ", cgroup v2, ext4 root):\n");
        table.append(String.format("guest:   %-10s %-26s %s%n", "handler", "recursive_read_only_mounts", "user_namespaces"));
        for (RuntimeHandler h : r.getRuntimeHandlersList()) {
            table.append(String.format("guest:   %-10s %-26s %s%n", h.getName().isEmpty() ? "(default)" : h.getName(),
                    h.getFeatures().getRecursiveReadOnlyMounts(), h.getFeatures().getUserNamespaces()));
        }
        table.append("guest:   features.supplemental_groups_policy: ").append(r.getFeatures().getSupplementalGroupsPolicy()).append('\n');
        table.append("guest:   unavailableRuntimeHandlers: ").append(info.path("unavailableRuntimeHandlers")).append('\n');
        table.append("guest:   checkpoint: ").append(info.path("checkpoint").asText()).append('\n');
        table.append("guest:   cgroupMode: ").append(info.path("cgroupMode").asText());
        System.out.println(table);
        List<String> offered = r.getRuntimeHandlersList().stream().map(RuntimeHandler::getName).toList();
        assertTrue(offered.contains("crun"), "crun runs on this cgroup v2 guest, so Status lists it: " + offered + " " + info);
        assertTrue(offered.contains("runc"), offered.toString());
        // crun 1.8 has no features document: its flags are what its probe containers showed; the
        // user namespace pod above ran with crun, so Status must offer user namespaces for it
        RuntimeHandler crun = r.getRuntimeHandlersList().stream().filter(h -> h.getName().equals("crun")).findFirst().orElseThrow();
        assertTrue(crun.getFeatures().getUserNamespaces(), "crun runs user namespace pods here: " + crun + " " + info.path("handlerFeatures"));
        return "handlers " + offered;
    }

    private static boolean pause() {
        try {
            Thread.sleep(100);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    // ---------------------------------------------------------------- user namespaces

    private static UserNamespace userns() {
        return UserNamespace.newBuilder().setMode(NamespaceMode.POD).addUids(MAPPING).addGids(MAPPING).build();
    }

    private String usernsPod(String handler) throws Exception {
        String pod = cri.runPodSandbox(RunPodSandboxRequest.newBuilder().setRuntimeHandler(handler).setConfig(PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName("userns-" + handler).setNamespace("guest").setUid("uid-" + handler))
                .setHostname("userns-" + handler)
                .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.POD).setUsernsOptions(userns())))))
                .build()).getPodSandboxId();
        try {
            // a directory of host root on the ext4 disk, mounted with the pod's mapping
            Path volume = Files.createDirectories(MNT.resolve("volume-" + handler));
            Files.writeString(volume.resolve("rootfile"), "x");
            Mount data = Mount.newBuilder().setContainerPath("/data").setHostPath(volume.toString())
                    .addUidMappings(MAPPING).addGidMappings(MAPPING).build();
            String c = cri.createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod).setConfig(ContainerConfig.newBuilder()
                    .setMetadata(ContainerMetadata.newBuilder().setName("app"))
                    .setImage(ImageSpec.newBuilder().setImage(IMAGE))
                    .addCommand("sleep").addArgs("1000")
                    .addMounts(data)
                    .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                            .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.POD).setUsernsOptions(userns())))))
                    .build()).getContainerId();
            cri.startContainer(StartContainerRequest.newBuilder().setContainerId(c).build());

            assertEquals("0 " + HOST_ID + " 65536", squeeze(exec(c, "cat", "/proc/self/uid_map")), "uid_map");
            assertEquals("0 " + HOST_ID + " 65536", squeeze(exec(c, "cat", "/proc/self/gid_map")), "gid_map");
            assertEquals("0", exec(c, "id", "-u").strip(), "root inside");
            long pid = new ObjectMapper().readTree(cri.containerStatus(ContainerStatusRequest.newBuilder()
                    .setContainerId(c).setVerbose(true).build()).getInfoOrThrow("info")).path("pid").asLong();
            Matcher uid = Pattern.compile("(?m)^Uid:\\s+(\\d+)").matcher(Files.readString(Path.of("/proc/" + pid + "/status")));
            assertTrue(uid.find());
            assertEquals(HOST_ID, Long.parseLong(uid.group(1)), "root in the pod is the mapped uid on the host");

            // owned by the pod's root inside: the root filesystem, the pod's files, /dev/shm and the mapped volume
            assertEquals("0:0 0:0 0:0 0:0 0:0 0:0 0:0", squeeze(exec(c, "stat", "-c", "%u:%g", "/", "/bin/busybox",
                    "/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/dev/shm", "/data/rootfile")), "owners inside");
            exec(c, "sh", "-c", "echo x > /new && echo y > /dev/shm/new");

            // how: the pod's files on ext4 through an idmapped view (on disk still host root's), its
            // /dev/shm (tmpfs, which Linux 6.1 cannot idmap) chowned into the pod's range
            Path runDir = runRoot.resolve("sandboxes").resolve(pod);
            assertTrue(Files.isDirectory(runDir.resolve("etc-mapped")), "ext4 takes idmapped mounts: the pod's files are idmapped");
            assertEquals(0, (int) Files.getAttribute(runDir.resolve("etc/hosts"), "unix:uid"), "hosts on disk stays host root's");
            assertFalse(Files.exists(runDir.resolve("shm-mapped")), "no idmapped tmpfs on Linux 6.1");
            assertEquals(HOST_ID, (int) Files.getAttribute(runDir.resolve("shm"), "unix:uid"), "/dev/shm chowned instead");
            assertEquals(0, (int) Files.getAttribute(volume.resolve("rootfile"), "unix:uid"), "the volume's file stays host root's");
            long idmapped = Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
                    .filter(l -> l.contains(runRoot.toString()) && l.contains("idmapped")).count();
            assertNotEquals(0, idmapped, "idmapped mounts under the run root");
            return "uid_map 0 " + HOST_ID + " 65536, host uid " + uid.group(1) + ", " + idmapped
                    + " idmapped mounts under the run root, /dev/shm chowned";
        } finally {
            removePod(pod);
            assertEquals(List.of(), mountsUnder(runRoot.resolve("sandboxes").resolve(pod)), "nothing of the pod stays mounted");
        }
    }

    // ---------------------------------------------------------------- recursive read-only

    private String recursiveReadOnly() throws Exception {
        Path host = Files.createDirectories(MNT.resolve("rro"));
        Files.writeString(host.resolve("top.txt"), "top\n");
        Path sub = Files.createDirectories(host.resolve("sub"));
        run("mount", "-t", "tmpfs", "-o", "size=1m", "berth-guest-sub", sub.toString());
        String pod = null;
        try {
            pod = cri.runPodSandbox(RunPodSandboxRequest.newBuilder().setRuntimeHandler("runc").setConfig(PodSandboxConfig.newBuilder()
                    .setMetadata(PodSandboxMetadata.newBuilder().setName("rro").setNamespace("guest").setUid("uid-rro"))
                    .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                            .setNamespaceOptions(NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE)
                                    .setPid(NamespaceMode.CONTAINER)))))
                    .build()).getPodSandboxId();
            String c = cri.createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod).setConfig(ContainerConfig.newBuilder()
                    .setMetadata(ContainerMetadata.newBuilder().setName("rro"))
                    .setImage(ImageSpec.newBuilder().setImage(IMAGE))
                    .addCommand("sleep").addArgs("1000")
                    .addMounts(Mount.newBuilder().setContainerPath("/host").setHostPath(host.toString()).setReadonly(true)
                            .setRecursiveReadOnly(true).setPropagation(MountPropagation.PROPAGATION_PRIVATE)))
                    .build()).getContainerId();
            cri.startContainer(StartContainerRequest.newBuilder().setContainerId(c).build());
            ExecSyncResponse subWrite = execRaw(c, "sh", "-c", "echo x > /host/sub/f");
            assertNotEquals(0, subWrite.getExitCode(), "the submount is read-only too");
            assertTrue(subWrite.getStderr().toStringUtf8().contains("Read-only file system"), subWrite.getStderr().toStringUtf8());
            ExecSyncResponse topWrite = execRaw(c, "sh", "-c", "echo x > /host/f");
            assertTrue(topWrite.getStderr().toStringUtf8().contains("Read-only file system"), topWrite.getStderr().toStringUtf8());
            assertEquals("top\n", exec(c, "cat", "/host/top.txt"));
            assertFalse(Files.exists(sub.resolve("f")));
            return "writes to /host and /host/sub (a tmpfs submount): Read-only file system";
        } finally {
            if (pod != null) {
                removePod(pod);
            }
            run("umount", sub.toString());
        }
    }

    /**
     * crun's recursive read-only mounts as Status offers them: made (the submount read-only too)
     * where Status says so, refused with INVALID_ARGUMENT where it does not.
     */
    private String recursiveReadOnlyWithCrun() throws Exception {
        boolean offered = cri.status(StatusRequest.getDefaultInstance()).getRuntimeHandlersList().stream()
                .filter(h -> h.getName().equals("crun")).findFirst().orElseThrow(() -> new AssertionError("crun not offered"))
                .getFeatures().getRecursiveReadOnlyMounts();
        Path host = Files.createDirectories(MNT.resolve("rro-crun"));
        Path sub = Files.createDirectories(host.resolve("sub"));
        run("mount", "-t", "tmpfs", "-o", "size=1m", "berth-guest-sub", sub.toString());
        String pod = null;
        try {
            pod = cri.runPodSandbox(RunPodSandboxRequest.newBuilder().setRuntimeHandler("crun").setConfig(PodSandboxConfig.newBuilder()
                    .setMetadata(PodSandboxMetadata.newBuilder().setName("rro-crun").setNamespace("guest").setUid("uid-rro-crun"))
                    .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                            .setNamespaceOptions(NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE)
                                    .setPid(NamespaceMode.CONTAINER)))))
                    .build()).getPodSandboxId();
            CreateContainerRequest create = CreateContainerRequest.newBuilder().setPodSandboxId(pod).setConfig(ContainerConfig.newBuilder()
                    .setMetadata(ContainerMetadata.newBuilder().setName("rro"))
                    .setImage(ImageSpec.newBuilder().setImage(IMAGE))
                    .addCommand("sleep").addArgs("1000")
                    .addMounts(Mount.newBuilder().setContainerPath("/host").setHostPath(host.toString()).setReadonly(true)
                            .setRecursiveReadOnly(true).setPropagation(MountPropagation.PROPAGATION_PRIVATE)))
                    .build();
            if (!offered) {
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> cri.createContainer(create));
                assertEquals(io.grpc.Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.toString());
                return "Status offers none for crun, and CreateContainer refuses it: " + e.getStatus().getDescription();
            }
            String c = cri.createContainer(create).getContainerId();
            cri.startContainer(StartContainerRequest.newBuilder().setContainerId(c).build());
            ExecSyncResponse subWrite = execRaw(c, "sh", "-c", "echo x > /host/sub/f");
            assertTrue(subWrite.getStderr().toStringUtf8().contains("Read-only file system"), subWrite.getStderr().toStringUtf8());
            return "Status offers it for crun, and the submount is read-only";
        } finally {
            if (pod != null) {
                removePod(pod);
            }
            run("umount", sub.toString());
        }
    }

    // ---------------------------------------------------------------- helpers

    /** Removes the pod's containers, then the pod. */
    private void removePod(String pod) {
        for (Container c : cri.listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
            if (c.getPodSandboxId().equals(pod)) {
                cri.removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c.getId()).build());
            }
        }
        cri.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
    }

    private ExecSyncResponse execRaw(String id, String... cmd) {
        return cri.execSync(ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(List.of(cmd)).setTimeout(60).build());
    }

    private String exec(String id, String... cmd) {
        ExecSyncResponse r = execRaw(id, cmd);
        assertEquals(0, r.getExitCode(), String.join(" ", cmd) + ": " + r.getStderr().toStringUtf8());
        return r.getStdout().toStringUtf8();
    }

    private static String squeeze(String s) {
        return s.strip().replaceAll("\\s+", " ");
    }

    /** Mount points at or below {@code dir}, in mount order. */
    static List<String> mountsUnder(Path dir) throws IOException {
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String point = line.split(" ")[4].replace("\\040", " ");
            if (point.equals(dir.toString()) || point.startsWith(dir + "/")) {
                out.add(point);
            }
        }
        return out;
    }

    private static String run(String... argv) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", argv) + " exited " + p.exitValue() + ": " + out);
        }
        return out;
    }

    private static void runQuietly(String... argv) {
        try {
            run(argv);
        } catch (IOException | InterruptedException e) {
            System.out.println("guest: " + e.getMessage());
        }
    }
}
