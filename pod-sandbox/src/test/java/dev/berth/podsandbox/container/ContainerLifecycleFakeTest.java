package dev.berth.podsandbox.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.host.HostProcesses;
import dev.berth.host.testing.FakeMounts;
import dev.berth.host.testing.FakeProcesses;
import dev.berth.images.reference.Digest;
import dev.berth.images.store.ImageRecord;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.HostFacts;
import dev.berth.podsandbox.container.spec.ImageConfig;
import dev.berth.podsandbox.sandbox.PodContext;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import dev.berth.podsandbox.sandbox.SandboxConfig.NamespaceOptions;
import dev.berth.podsandbox.sandbox.SandboxState;
import dev.berth.podsandbox.testing.FakeCgroups;
import dev.berth.podsandbox.testing.FakeOciRuntime;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The container lifecycle (the container service over the container manager) against an
 * in-memory OCI runtime, mount table and process table: the order of its calls and events,
 * rollback, idempotency and recovery after a restart; no root needed.
 */
class ContainerLifecycleFakeTest {
    /** A crash of the daemon in the middle of a step: nothing catches it, nothing is undone. */
    static final class SimulatedCrash extends Error {
        SimulatedCrash() {
            super("simulated crash");
        }
    }

    private static final Digest IMAGE_ID = Digest.parse("sha256:" + "1".repeat(64));
    private static final ImageRecord IMAGE = new ImageRecord(IMAGE_ID, List.of("docker.io/library/busybox:latest"),
            List.of(), 1, IMAGE_ID, "application/vnd.oci.image.manifest.v1+json", null, List.of(), List.of(), List.of(),
            "", 0, "", false, Map.of(), 0);

    @TempDir
    Path dir;

    /** Events, runtime calls and image holds, in the order they happened. */
    final List<String> journal = Collections.synchronizedList(new ArrayList<>());
    final FakeMounts mounts = new FakeMounts();
    final FakeProcesses processes = new FakeProcesses();
    final FakeOciRuntime runtime = new FakeOciRuntime("runc", processes);
    final List<ContainerManager> managers = new ArrayList<>();
    /** Makes the manager's next look at a monitor's start time crash the daemon (just after the runtime created a container). */
    volatile boolean crashAfterRuntimeCreate;
    ContainerManager manager;
    ContainerService service;
    /** The image holds, which outlive restarts as the image store's do. */
    final Set<String> held = ConcurrentHashMap.newKeySet();
    /** While set, every record write fails as on a full disk. */
    volatile boolean diskFull;
    /** The records' writes, "synced record.json" or "unsynced record.json". */
    final List<String> writes = Collections.synchronizedList(new ArrayList<>());
    /** Makes the runtime's next delete crash the daemon (before it deleted anything). */
    volatile boolean crashOnRuntimeDelete;
    final FakeCgroups cgroups = new FakeCgroups();
    /** Makes the next image release crash the daemon (before it released anything). */
    volatile boolean crashOnRelease;

    final ContainerImages images = new ContainerImages() {
        @Override
        public ImageRecord require(String ref) {
            return find(ref).orElseThrow(() -> BerthException.notFound("image %s not found", ref));
        }

        @Override
        public Optional<ImageRecord> find(String ref) {
            return ref.equals("busybox") || ref.equals(IMAGE_ID.toString()) ? Optional.of(IMAGE) : Optional.empty();
        }

        @Override
        public ImageConfig config(ImageRecord image) {
            return new ImageConfig(List.of(), List.of("sh"), List.of("PATH=/bin"), "", "", "");
        }

        @Override
        public List<Path> lowerDirs(Digest imageId) {
            return List.of(dir.resolve("image/layer0"));
        }

        @Override
        public void hold(String containerId, Digest imageId) {
            journal.add("hold " + short_(containerId));
            held.add(containerId);
        }

        @Override
        public void release(String containerId) {
            if (crashOnRelease) {
                crashOnRelease = false;
                throw new SimulatedCrash();
            }
            journal.add("release " + short_(containerId));
            held.remove(containerId);
        }

        @Override
        public Set<String> holders() {
            return Set.copyOf(held);
        }
    };

    @BeforeEach
    void setUp() {
        runtime.observe(call -> journal.add("runtime " + call.replaceAll("[0-9a-f]{64}", "ID")));
        runtime.observe(call -> {
            if (crashOnRuntimeDelete && call.startsWith("delete ")) {
                crashOnRuntimeDelete = false;
                throw new SimulatedCrash();
            }
        });
        start();
    }

    @AfterEach
    void tearDown() {
        managers.forEach(ContainerManager::close);
    }

    /** Starts (or restarts) berth over the same directories, mounts, processes and runtime. */
    void start() {
        HostProcesses seen = new HostProcesses() {
            @Override
            public long startTime(long pid) {
                if (crashAfterRuntimeCreate) {
                    crashAfterRuntimeCreate = false;
                    throw new SimulatedCrash();
                }
                return processes.startTime(pid);
            }

            @Override
            public Optional<String> command(long pid) {
                return processes.command(pid);
            }

            @Override
            public Optional<List<String>> commandLine(long pid) {
                return processes.commandLine(pid);
            }

            @Override
            public List<Long> pids() {
                return processes.pids();
            }

            @Override
            public boolean signal(long pid, int signal) {
                return processes.signal(pid, signal);
            }

            @Override
            public boolean signalGroup(long pgid, int signal) {
                return processes.signalGroup(pgid, signal);
            }
        };
        manager = new ContainerManager(dir.resolve("state"), dir.resolve("run"), runtime.handlers(), HostFacts.current(),
                rec -> false, ContainerManager.Options.defaults(), seen, new ContainerStore.Writer() {
                    @Override
                    public void write(Path file, byte[] content) throws IOException {
                        if (diskFull) {
                            throw new IOException(file + ": No space left on device");
                        }
                        writes.add("synced " + file.getFileName());
                        dev.berth.common.AtomicFiles.write(file, content);
                    }

                    @Override
                    public void writeUnsynced(Path file, byte[] content) throws IOException {
                        if (diskFull) {
                            throw new IOException(file + ": No space left on device");
                        }
                        writes.add("unsynced " + file.getFileName());
                        dev.berth.common.AtomicFiles.write(file, content);
                    }
                }, Runnable::run);
        managers.add(manager);
        service = new ContainerService(manager, new ContainerRootfs(dir.resolve("layers"), dir.resolve("mounts"), mounts),
                images, new ImageVolumes(dir.resolve("volumes"), mounts, images), cgroups);
        service.usePods(id -> pod());
        service.listen(new ContainerListener() {
            @Override
            public void created(ContainerRecord c) {
                journal.add("created " + short_(c.id()));
            }

            @Override
            public void started(ContainerRecord c) {
                journal.add("started " + short_(c.id()));
            }

            @Override
            public void stopped(ContainerRecord c) {
                journal.add("stopped " + short_(c.id()) + " " + c.exitCode());
            }

            @Override
            public void deleting(ContainerRecord c) {
                journal.add("deleting " + short_(c.id()));
            }

            @Override
            public void deleted(ContainerRecord c) {
                journal.add("deleted " + short_(c.id()));
            }
        });
        service.recover();
    }

    /** A READY pod whose pinned namespaces and pod files are plain files in the temp directory. */
    PodContext pod() {
        Path pod = dir.resolve("pod1");
        try {
            Files.createDirectories(pod.resolve("ns"));
            Files.createDirectories(pod.resolve("shm"));
            for (String f : List.of("ns/net", "ns/ipc", "ns/uts", "hostname", "hosts", "resolv.conf")) {
                if (!Files.exists(pod.resolve(f))) {
                    Files.createFile(pod.resolve(f));
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        PodContext template = SandboxContextsTest.pod(NamespaceOptions.DEFAULT, 0, "/run/pod1/ns/net", "");
        SandboxConfig t = template.config();
        SandboxConfig config = new SandboxConfig(t.metadata(), t.hostname(), dir.resolve("logs").toString(), t.dns(),
                t.portMappings(), t.labels(), t.annotations(), t.cgroupParent(), t.sysctls(), t.namespaces(), t.resources(),
                t.overhead(), t.shmSizeBytes(), t.runtimeHandler());
        return new PodContext("pod1", SandboxState.READY, 0, pod.resolve("ns/net").toString(),
                pod.resolve("ns/ipc").toString(), pod.resolve("ns/uts").toString(), "", "runc", "fake-runc", "web",
                pod.resolve("shm").toString(), pod.resolve("hostname").toString(), pod.resolve("hosts").toString(),
                pod.resolve("resolv.conf").toString(), config);
    }

    static String short_(String id) {
        return id.length() == 64 ? "ID" : id;
    }

    static NewContainer app() {
        return new NewContainer("pod1", "busybox", "", null, "", logPath -> ContainerConfig.builder("app").build());
    }

    /** The state of the container as its record on disk says. */
    String recordedState(String id) throws IOException {
        JsonNode rec = Json.mapper().readTree(dir.resolve("state/containers").resolve(id).resolve("record.json").toFile());
        return rec.path("state").asText();
    }

    void assertNothingLeft() throws IOException {
        assertEquals(List.of(), mounts.mounted(), "no root filesystem mounted");
        assertEquals(List.of(), manager.list(), "no record");
        assertEquals(List.of(), listing(dir.resolve("state/containers")), "no record on disk");
        assertEquals(List.of(), listing(dir.resolve("layers")), "no writable layer");
        assertEquals(List.of(), listing(dir.resolve("run/containers")), "no bundle");
        assertEquals(List.of(), runtime.known(), "no container in the runtime");
        assertEquals(List.of(), processes.running(), "no container process or monitor");
    }

    static List<String> listing(Path d) throws IOException {
        if (!Files.isDirectory(d)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(d)) {
            return s.map(p -> p.getFileName().toString()).toList();
        }
    }

    static NewContainer logged(String logPath) {
        return new NewContainer("pod1", "busybox", logPath, null, "", path -> ContainerConfig.builder("app").logPath(path).build());
    }

    static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    // ---------------------------------------------------------------- files closed to other users

    @Test
    void recordsBundlesLayersAndLogsAreClosedToOtherUsers() throws IOException {
        ContainerRecord c = service.create(logged("app/0.log"));
        Path record = dir.resolve("state/containers").resolve(c.id());
        Path bundle = dir.resolve("run/containers").resolve(c.id());
        Path layer = dir.resolve("layers").resolve(c.id());
        for (Path d : List.of(dir.resolve("state/containers"), record, dir.resolve("run/containers"), bundle,
                dir.resolve("run/exits"), dir.resolve("run/sockets"), dir.resolve("layers"), layer, layer.resolve("work"),
                dir.resolve("mounts"), dir.resolve("logs/app"))) {
            assertEquals("rwx------", mode(d), d + " is 0700");
        }
        assertEquals("rw-------", mode(record.resolve("record.json")));
        assertEquals("rw-------", mode(bundle.resolve("config.json")), "the spec holds the container's environment");
        assertEquals("rw-------", mode(dir.resolve("logs/app/0.log")), "the log exists before conmon opens it");
        assertEquals("rwxr-xr-x", mode(layer.resolve("upper")), "the container's / is 0755 as any root");
        service.remove(c.id());
    }

    @Test
    void directoriesAnOlderBerthLeftOpenAreClosedOnStart() throws IOException {
        List<Path> dirs = List.of(dir.resolve("state/containers"), dir.resolve("run/containers"), dir.resolve("run/exits"),
                dir.resolve("run/sockets"), dir.resolve("layers"), dir.resolve("mounts"));
        for (Path d : dirs) {
            Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        start();
        for (Path d : dirs) {
            assertEquals("rwx------", mode(d), d + " is closed again");
        }
    }

    // ---------------------------------------------------------------- crashes and full disks

    @Test
    void aContainerTheRuntimeStartedBeforeACrashIsRecordedRunningAtTheNextStartAndStartSucceeds() throws IOException {
        ContainerRecord c = service.create(app());
        runtime.start(c.id()); // berth was killed before it recorded RUNNING
        start();
        assertEquals(ContainerState.RUNNING, manager.status(c.id()).state(), "state matches the runtime");
        assertEquals("RUNNING", recordedState(c.id()));
        assertTrue(manager.status(c.id()).startedAt() > 0);
        BerthException e = assertThrows(BerthException.class, () -> service.start(c.id()));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind(), e.getMessage());
        assertEquals(ContainerState.RUNNING, manager.status(c.id()).state(), "a second start records no failure");
        assertEquals(Optional.of(FakeOciRuntime.State.RUNNING), runtime.state(c.id()));
        service.remove(c.id());
        assertNothingLeft();
    }

    @Test
    void aStartOfACreatedRecordWhoseContainerTheRuntimeAlreadyRunsRecordsItRunning() throws IOException {
        ContainerRecord c = service.create(app());
        runtime.start(c.id()); // the runtime ran it, the record never said so
        ContainerRecord started = service.start(c.id());
        assertEquals(ContainerState.RUNNING, started.state(), "not EXITED(128) beside a running process");
        assertEquals("RUNNING", recordedState(c.id()));
        assertEquals(Optional.of(FakeOciRuntime.State.RUNNING), runtime.state(c.id()));
        service.remove(c.id());
        assertNothingLeft();
    }

    @Test
    void aStartTheDiskCannotRecordKeepsTheContainerRunningInMemoryAndWritesItLater() throws IOException {
        ContainerRecord c = service.create(app());
        diskFull = true;
        BerthException e = assertThrows(BerthException.class, () -> service.start(c.id()));
        assertEquals(BerthException.Kind.RESOURCE_EXHAUSTED, e.kind(), e.getMessage());
        assertEquals(ContainerState.RUNNING, manager.recorded(c.id()).state(), "it runs: never reported CREATED");
        assertEquals("CREATED", recordedState(c.id()));
        diskFull = false;
        manager.exits().sweep();
        assertEquals("RUNNING", recordedState(c.id()), "written once the disk has room");
        service.remove(c.id());
        assertNothingLeft();
    }

    @Test
    void aStopTheDiskCannotRecordReportsTheExitInMemoryFailsWithResourceExhaustedAndIsWrittenLater() throws IOException {
        ContainerRecord c = service.create(app());
        service.start(c.id());
        diskFull = true;
        BerthException e = assertThrows(BerthException.class, () -> service.stop(c.id(), 0));
        assertEquals(BerthException.Kind.RESOURCE_EXHAUSTED, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains("record"), e.getMessage());
        assertEquals(ContainerState.EXITED, manager.recorded(c.id()).state(), "the exit holds in memory");
        assertTrue(journal.contains("stopped ID 137"), "and is reported: " + journal);
        assertEquals("RUNNING", recordedState(c.id()));
        assertEquals(List.of(), processes.running(), "container and monitor are gone");
        diskFull = false;
        manager.exits().sweep();
        assertEquals("EXITED", recordedState(c.id()));
        service.remove(c.id());
        assertNothingLeft();
    }

    @Test
    void berthStartsOnAFullDiskKeepingAnExitItCannotWriteInMemoryUntilTheDiskHasRoom() throws IOException {
        ContainerRecord c = service.create(app());
        service.start(c.id());
        runtime.exit(c.id(), 3); // while berth was down
        diskFull = true;
        start();
        ContainerRecord now = manager.recorded(c.id());
        assertEquals(ContainerState.EXITED, now.state(), "the exit holds in memory");
        assertEquals(3, now.exitCode());
        assertEquals("RUNNING", recordedState(c.id()));
        diskFull = false;
        manager.exits().sweep();
        assertEquals("EXITED", recordedState(c.id()));
        service.remove(c.id());
        assertNothingLeft();
    }

    @Test
    void aRemovalACrashCutShortAfterTheLayerWentIsFinishedAtTheNextStart() throws IOException {
        ContainerRecord c = service.create(app());
        service.start(c.id());
        runtime.failNext("delete"); // the delete at the exit fails: the removal deletes it
        service.stop(c.id(), 0);
        crashOnRuntimeDelete = true;
        assertThrows(SimulatedCrash.class, () -> service.remove(c.id()));
        start();
        assertEquals(List.of(), service.list(new ContainerFilter("", null, "", null)), "no half-removed container listed");
        assertEquals(Set.of(), held, "its image hold is released");
        assertNothingLeft();
    }

    @Test
    void removeContainerAfterTheExitWasObservedRunsNoRuntimeCommand() throws IOException {
        ContainerRecord c = service.create(app());
        service.start(c.id());
        service.stop(c.id(), 10);
        assertFalse(runtime.known().contains(c.id()), "the runtime's state went with the exit");
        journal.clear();
        service.remove(c.id());
        assertEquals(List.of("deleting ID", "release ID", "deleted ID"), journal);
        assertNothingLeft();
    }

    @Test
    void anExitRecordedBeforeACrashWhoseRuntimeDeleteNeverRanIsDeletedAtTheNextStart() throws IOException {
        ContainerRecord c = service.create(app());
        service.start(c.id());
        runtime.failNext("delete"); // as if berth died between the exit's record and the runtime's delete
        runtime.exit(c.id(), 0);
        manager.exits().sweep();
        assertEquals(ContainerState.EXITED, manager.recorded(c.id()).state());
        assertTrue(runtime.known().contains(c.id()));
        start();
        assertFalse(runtime.known().contains(c.id()), "start-up deletes what the runtime kept of the exited container");
        journal.clear();
        service.remove(c.id());
        assertEquals(List.of("deleting ID", "release ID", "deleted ID"), journal);
        assertNothingLeft();
    }

    @Test
    void directoriesWithoutARecordAndTemporaryFilesAreSweptAtStart() throws IOException {
        ContainerRecord kept = service.create(app());
        Path containers = dir.resolve("state/containers");
        Files.writeString(containers.resolve(kept.id()).resolve(".record.json.tmp-1f"), "{");
        Path torn = Files.createDirectories(containers.resolve("a".repeat(64)));
        Files.writeString(torn.resolve(".record.json.tmp-2e"), "{\"id\"");
        Files.createDirectories(containers.resolve("b".repeat(64)));
        Path bundle = Files.createDirectories(dir.resolve("run/containers").resolve("c".repeat(64)));
        Files.writeString(bundle.resolve("config.json"), "{}");
        start();
        assertEquals(List.of(kept.id()), listing(containers));
        assertEquals(List.of("record.json"), listing(containers.resolve(kept.id())));
        assertEquals(List.of(kept.id()), listing(dir.resolve("run/containers")));
        assertEquals(ContainerState.CREATED, manager.status(kept.id()).state());
        service.remove(kept.id());
        assertNothingLeft();
    }

    @Test
    void theCgroupOfAContainerGoesWithItsRemovalRollbackAndStartUpRollback() throws IOException {
        ContainerRecord c = service.create(app());
        service.remove(c.id());
        assertTrue(cgroups.removed.contains(c.cgroupsPath()), cgroups.removed + " has " + c.cgroupsPath());
        runtime.failNext("create");
        assertThrows(BerthException.class, () -> service.create(app()));
        assertEquals(2, cgroups.removed.size(), "the rolled back create's cgroup too: " + cgroups.removed);
        crashAfterRuntimeCreate = true;
        assertThrows(SimulatedCrash.class, () -> service.create(app()));
        start();
        assertEquals(3, cgroups.removed.size(), "the cgroup of the create rolled back at start-up: " + cgroups.removed);
        assertTrue(cgroups.removed.stream().allMatch(p -> p.matches("/berth-[0-9a-f]{64}")), cgroups.removed.toString());
        assertNothingLeft();
    }

    @Test
    void aConmonLauncherLeftBlockedOnItsSyncFifoIsKilledAtStart() {
        String fifo = dir.resolve("run/containers").resolve("d".repeat(64)).resolve("sync.fifo").toString();
        String other = "/elsewhere/run/containers/" + "d".repeat(64) + "/sync.fifo";
        processes.spawnArgs(777, List.of("/bin/sh", "-c", "f=$1; shift; exec \"$@\" 3>\"$f\"", "sh", fifo,
                "/usr/bin/conmon", "--api-version", "1"));
        processes.spawnArgs(778, List.of("/bin/sh", "-c", "f=$1; shift; exec \"$@\" 3>\"$f\"", "sh", other,
                "/usr/bin/conmon", "--api-version", "1"));
        start();
        assertEquals(-1, processes.startTime(777), "the stranded launcher of this run root is killed");
        assertTrue(processes.startTime(778) > 0, "another run root's is left alone");
        processes.exit(778);
    }

    // ---------------------------------------------------------------- log paths

    @Test
    void aSymlinkPlantedAtTheLogPathIsRefusedAndItsTargetNotWritten() throws IOException {
        Path outside = Files.writeString(dir.resolve("outside"), "precious\n");
        Files.setPosixFilePermissions(outside, PosixFilePermissions.fromString("rw-r--r--"));
        Files.createDirectories(dir.resolve("logs/app"));
        Files.createSymbolicLink(dir.resolve("logs/app/0.log"), outside);
        BerthException e = assertThrows(BerthException.class, () -> service.create(logged("app/0.log")));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind(), e.getMessage());
        assertEquals("precious\n", Files.readString(outside));
        assertEquals("rw-r--r--", mode(outside), "its mode is not touched either");
        assertEquals(List.of(), runtime.known(), "conmon never saw the path");
        assertNothingLeft();
    }

    @Test
    void aSymlinkedDirectoryUnderTheLogDirectoryIsRefused() throws IOException {
        Path outside = Files.createDirectories(dir.resolve("outside"));
        Files.createDirectories(dir.resolve("logs"));
        Files.createSymbolicLink(dir.resolve("logs/app"), outside);
        BerthException e = assertThrows(BerthException.class, () -> service.create(logged("app/0.log")));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind(), e.getMessage());
        assertEquals(List.of(), listing(outside), "nothing created through the link");
        assertNothingLeft();
    }

    @Test
    void aHardLinkOrAFifoAtTheLogPathIsRefused() throws Exception {
        Path outside = Files.writeString(dir.resolve("outside"), "precious\n");
        Files.createDirectories(dir.resolve("logs/app"));
        Files.createLink(dir.resolve("logs/app/0.log"), outside);
        assertEquals(BerthException.Kind.INVALID_ARGUMENT,
                assertThrows(BerthException.class, () -> service.create(logged("app/0.log"))).kind());
        assertEquals("precious\n", Files.readString(outside));
        Process mk = new ProcessBuilder("mkfifo", dir.resolve("logs/app/1.log").toString()).start();
        assertEquals(0, mk.waitFor());
        assertEquals(BerthException.Kind.INVALID_ARGUMENT,
                assertThrows(BerthException.class, () -> service.create(logged("app/1.log"))).kind());
        assertNothingLeft();
    }

    // ---------------------------------------------------------------- ordering and events

    @Test
    void createStartStopRemoveCallTheRuntimeInOrderAndReportEveryChange() throws IOException {
        ContainerRecord c = service.create(app());
        assertEquals(ContainerState.CREATED, c.state());
        assertEquals(1, mounts.mounted().size(), "the overlay is mounted");
        assertEquals(runtime.container(c.id()).orElseThrow().monitorPid(), c.conmonPid());
        service.start(c.id());
        assertEquals(ContainerState.RUNNING, service.status(c.id()).record().state());
        service.stop(c.id(), 10);
        ContainerRecord stopped = service.status(c.id()).record();
        assertEquals(ContainerState.EXITED, stopped.state());
        assertEquals(143, stopped.exitCode(), "ended by SIGTERM");
        service.remove(c.id());
        assertEquals(List.of("hold ID", "runtime create ID", "created ID", "runtime start ID", "started ID",
                "runtime kill ID SIGTERM", "runtime delete ID", "stopped ID 143", "deleting ID", "release ID",
                "deleted ID"), journal);
        assertNothingLeft();
    }

    @Test
    void aStopSignalTheContainerIgnoresIsFollowedBySigkillOnceTheTimeoutPassed() {
        ContainerRecord c = service.create(app());
        service.start(c.id());
        runtime.ignore("SIGTERM");
        journal.clear();
        service.stop(c.id(), 1);
        assertEquals(List.of("runtime kill ID SIGTERM", "runtime kill ID SIGKILL", "runtime delete ID", "stopped ID 137"), journal);
        assertEquals(137, service.status(c.id()).record().exitCode());
    }

    @Test
    void removingARunningContainerKillsItAndDeletesItFromTheRuntimeBeforeItsRootfsIsUnmounted() {
        ContainerRecord c = service.create(app());
        service.start(c.id());
        List<Integer> mountsAtDelete = new ArrayList<>();
        runtime.observe(call -> {
            if (call.startsWith("delete")) {
                mountsAtDelete.add(mounts.mounted().size());
            }
        });
        journal.clear();
        service.remove(c.id());
        assertEquals(List.of("runtime kill ID SIGKILL", "runtime delete ID", "stopped ID 137", "deleting ID",
                "release ID", "deleted ID"), journal);
        // the runtime's delete, which ends whatever is left in the container's cgroup, comes with the exit
        assertEquals(List.of(1), mountsAtDelete, "nothing uses the root filesystem when it is unmounted");
    }

    // ---------------------------------------------------------------- stops that overlap

    /** Runs {@code call} on a thread of its own (a daemon: a test that fails leaves no thread holding up the JVM). */
    static <T> CompletableFuture<T> async(Callable<T> call) {
        CompletableFuture<T> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                f.complete(call.call());
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        }, "test-call");
        t.setDaemon(true);
        t.start();
        return f;
    }

    /** A running container that ignores SIGTERM, with a StopContainer of {@code timeout} seconds waiting on it. */
    CompletableFuture<Void> gracefulStopUnderWay(ContainerRecord c, long timeout) {
        service.start(c.id());
        runtime.ignore("SIGTERM");
        journal.clear();
        CompletableFuture<Void> graceful = async(() -> {
            service.stop(c.id(), timeout);
            return null;
        });
        ContainerFixture.await("the stop signal", Duration.ofSeconds(10), () -> journal.contains("runtime kill ID SIGTERM"));
        return graceful;
    }

    @Test
    void aForcedStopDuringALongGracePeriodKillsAtOnceAndTheGracefulStopReturnsWithIt() throws Exception {
        ContainerRecord c = service.create(app());
        CompletableFuture<Void> graceful = gracefulStopUnderWay(c, 300);
        CompletableFuture<Void> forced = async(() -> {
            service.stop(c.id(), 0);
            return null;
        });
        forced.get(30, TimeUnit.SECONDS);
        graceful.get(30, TimeUnit.SECONDS);
        assertEquals(List.of("runtime kill ID SIGTERM", "runtime kill ID SIGKILL", "runtime delete ID", "stopped ID 137"), journal,
                "one stop signal, one SIGKILL, one exit for both calls");
        assertEquals(137, service.status(c.id()).record().exitCode());
    }

    @Test
    void aShorterStopBringsTheSigkillForwardForBothCalls() throws Exception {
        ContainerRecord c = service.create(app());
        CompletableFuture<Void> graceful = gracefulStopUnderWay(c, 300);
        CompletableFuture<Void> shorter = async(() -> {
            service.stop(c.id(), 1);
            return null;
        });
        shorter.get(30, TimeUnit.SECONDS);
        graceful.get(30, TimeUnit.SECONDS);
        assertEquals(List.of("runtime kill ID SIGTERM", "runtime kill ID SIGKILL", "runtime delete ID", "stopped ID 137"), journal,
                "the second stop joins the first: no second stop signal");
    }

    @Test
    void aRemoveDuringAGracefulStopKillsAndRemovesAtOnce() throws Exception {
        ContainerRecord c = service.create(app());
        CompletableFuture<Void> graceful = gracefulStopUnderWay(c, 300);
        CompletableFuture<Void> removed = async(() -> {
            service.remove(c.id());
            return null;
        });
        removed.get(30, TimeUnit.SECONDS);
        graceful.get(30, TimeUnit.SECONDS);
        assertEquals(List.of("runtime kill ID SIGTERM", "runtime kill ID SIGKILL", "runtime delete ID", "stopped ID 137", "deleting ID",
                "release ID", "deleted ID"), journal);
        assertNothingLeft();
    }

    @Test
    void stopPodSandboxDuringAGracefulStopKillsThePodsContainersAtOnce() throws Exception {
        ContainerRecord c = service.create(app());
        CompletableFuture<Void> graceful = gracefulStopUnderWay(c, 300);
        CompletableFuture<Void> podStopped = async(() -> {
            service.stopAll("pod1");
            return null;
        });
        podStopped.get(30, TimeUnit.SECONDS);
        graceful.get(30, TimeUnit.SECONDS);
        assertEquals(List.of("runtime kill ID SIGTERM", "runtime kill ID SIGKILL", "runtime delete ID", "stopped ID 137"), journal);
    }

    @Test
    void concurrentRemovesOfOneContainerCoalesceIntoOneRemoval() throws Exception {
        ContainerRecord c = service.create(app());
        CompletableFuture<Void> graceful = gracefulStopUnderWay(c, 300);
        List<CompletableFuture<Void>> removes = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            removes.add(async(() -> {
                service.remove(c.id());
                return null;
            }));
        }
        for (CompletableFuture<Void> r : removes) {
            r.get(30, TimeUnit.SECONDS);
        }
        graceful.get(30, TimeUnit.SECONDS);
        assertEquals(1, journal.stream().filter(e -> e.equals("deleted ID")).count(), journal.toString());
        assertEquals(1, journal.stream().filter(e -> e.equals("runtime kill ID SIGKILL")).count(), journal.toString());
        assertNothingLeft();
    }

    @Test
    void aStopWithTheLargestTimeoutWaitsAndEndsWithTheContainer() throws Exception {
        ContainerRecord c = service.create(app());
        // Long.MAX_VALUE seconds overflowed a Duration's nanoseconds: the stop failed after its signal
        CompletableFuture<Void> graceful = gracefulStopUnderWay(c, Long.MAX_VALUE);
        service.stop(c.id(), 0);
        graceful.get(30, TimeUnit.SECONDS);
        assertEquals(List.of("runtime kill ID SIGTERM", "runtime kill ID SIGKILL", "runtime delete ID", "stopped ID 137"), journal);
    }

    @Test
    void aTimeoutNearTheLargestIsAGracePeriodNotAnImmediateSigkill() throws Exception {
        ContainerRecord c = service.create(app());
        // 9223372036 s fits in a long of nanoseconds, but not added to System.nanoTime(): the
        // deadline wrapped into the past and SIGKILL followed the stop signal at once
        CompletableFuture<Void> graceful = gracefulStopUnderWay(c, Long.MAX_VALUE / 1_000_000_000L);
        Thread.sleep(500);
        assertFalse(graceful.isDone(), "the stop waits through its grace period");
        assertEquals(List.of("runtime kill ID SIGTERM"), journal);
        service.stop(c.id(), 0);
        graceful.get(30, TimeUnit.SECONDS);
    }

    @Test
    void timeoutsSaturateInsteadOfOverflowing() {
        assertEquals(0, ContainerManager.waitNanos(-5));
        assertEquals(0, ContainerManager.waitNanos(0));
        assertEquals(300_000_000_000L, ContainerManager.waitNanos(300));
        assertEquals(ContainerExits.MAX_WAIT_NANOS, ContainerManager.waitNanos(Long.MAX_VALUE));
        assertEquals(ContainerExits.MAX_WAIT_NANOS, ContainerManager.waitNanos(Long.MAX_VALUE / 1_000_000_000L));
        assertEquals(ContainerExits.MAX_WAIT_NANOS, ContainerExits.waitNanos(Duration.ofSeconds(Long.MAX_VALUE)));
        assertEquals(0, ContainerExits.waitNanos(Duration.ofSeconds(-1)));
        assertEquals(1_500_000_000L, ContainerExits.waitNanos(Duration.ofMillis(1500)));
    }

    @Test
    void aFailedStartRecordsTheContainerExitedAndNeverReportsItStarted() {
        ContainerRecord c = service.create(app());
        runtime.failNext("start");
        BerthException e = assertThrows(BerthException.class, () -> service.start(c.id()));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind());
        ContainerRecord failed = service.status(c.id()).record();
        assertEquals(ContainerState.EXITED, failed.state());
        assertEquals(128, failed.exitCode());
        assertEquals(ContainerRecord.REASON_CANNOT_RUN, failed.reason());
        assertFalse(journal.contains("started ID"));
        assertTrue(journal.contains("stopped ID 128"));
    }

    // ---------------------------------------------------------------- rollback and idempotency

    @Test
    void aFailedRuntimeCreateUnmountsTheRootfsReleasesTheImageAndLeavesNoRecord() throws IOException {
        runtime.failNext("create");
        BerthException e = assertThrows(BerthException.class, () -> service.create(app()));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind(), "the runtime's error reaches the caller");
        assertEquals(List.of("hold ID", "runtime create ID", "runtime delete ID", "release ID"), journal,
                "no CREATED event; the hold is released after the runtime forgot the container");
        assertNothingLeft();
    }

    @Test
    void aFailedOverlayMountReleasesTheImageAndLeavesNothing() throws IOException {
        mounts.failNext("overlay");
        assertThrows(BerthException.class, () -> service.create(app()));
        assertEquals(List.of("hold ID", "release ID"), journal, "the runtime is never asked");
        assertNothingLeft();
    }

    @Test
    void removeIsIdempotentAndAnUnknownContainerIsRemovedWithoutAnyCall() throws IOException {
        ContainerRecord c = service.create(app());
        service.remove(c.id());
        journal.clear();
        service.remove(c.id());
        service.stop(c.id(), 10);
        service.remove("f".repeat(64));
        assertEquals(List.of("release ID", "release ID"), journal,
                "only the (idempotent) image hold release, which a crashed removal may have left");
        assertNothingLeft();
    }

    // ---------------------------------------------------------------- recovery

    @Test
    void aCreateACrashCutShortIsRolledBackAtTheNextStart() throws IOException {
        crashAfterRuntimeCreate = true;
        assertThrows(SimulatedCrash.class, () -> service.create(app()));
        assertEquals(1, mounts.mounted().size(), "the crash left the overlay mounted");
        assertEquals(1, runtime.known().size(), "and the container in the runtime, with its monitor");
        journal.clear();
        start();
        assertEquals(List.of("runtime delete ID", "release ID"), journal);
        assertNothingLeft();
    }

    @Test
    void aCreatesFirstRecordIsNotSyncedButTheRecordThatSaysTheContainerExistsIs() {
        writes.clear();
        service.create(app());
        assertEquals(List.of("unsynced record.json", "synced record.json"), writes);
    }

    @Test
    void aCreateAPowerLossCutShortLeavesNothingWhenItsUnsyncedFirstRecordCameBackEmpty() throws IOException {
        powerLossAfterRuntimeCreate(record -> Files.write(record, new byte[0]));
    }

    @Test
    void aCreateAPowerLossCutShortLeavesNothingWhenItsUnsyncedFirstRecordCameBackAsZeros() throws IOException {
        powerLossAfterRuntimeCreate(record -> Files.write(record, new byte[(int) Files.size(record)]));
    }

    @Test
    void aCreateAPowerLossCutShortLeavesNothingWhenItsUnsyncedFirstRecordIsGone() throws IOException {
        powerLossAfterRuntimeCreate(Files::delete);
    }

    /**
     * A create cut short after the runtime created the container, its first record then left
     * by {@code lost} as a power loss may leave an unsynced new file; berth starts again over
     * what is left (also what only a crash of berth, not a reboot, would have left behind).
     */
    void powerLossAfterRuntimeCreate(RecordLoss lost) throws IOException {
        crashAfterRuntimeCreate = true;
        assertThrows(SimulatedCrash.class, () -> service.create(app()));
        List<String> ids = listing(dir.resolve("state/containers"));
        assertEquals(1, ids.size());
        assertEquals(Set.of(ids.get(0)), held);
        lost.apply(dir.resolve("state/containers").resolve(ids.get(0)).resolve("record.json"));
        start();
        assertNothingLeft();
        assertEquals(Set.of(), held, "its image hold is released");
    }

    interface RecordLoss {
        void apply(Path record) throws IOException;
    }

    @Test
    void anImageHoldThatACrashLeftAfterTheRemovalIsReleasedAtTheNextStart() throws IOException {
        ContainerRecord c = service.create(app());
        service.start(c.id());
        crashOnRelease = true;
        assertThrows(SimulatedCrash.class, () -> service.remove(c.id()));
        assertNothingLeft();
        assertEquals(Set.of(c.id()), held, "the crash came between the removal and the release of the hold");
        journal.clear();
        start();
        assertEquals(List.of("release ID"), journal);
        assertEquals(Set.of(), held, "no hold outlives its container");
    }

    @Test
    void aRunningContainerWhoseMonitorDiedIsRecordedExitedByTheExitsComponentNotByARead() throws IOException {
        ContainerRecord c = service.create(app());
        service.start(c.id());
        runtime.monitorDied(c.id());
        journal.clear();
        assertEquals(ContainerState.RUNNING, service.status(c.id()).record().state(), "a read changes nothing");
        assertEquals(ContainerState.RUNNING, service.list(new ContainerFilter("", null, "", null)).get(0).record().state());
        assertEquals(List.of(), journal, "nothing is killed by a read");
        manager.exits().sweep();
        assertEquals(List.of("runtime kill ID SIGKILL", "runtime delete ID", "stopped ID 255"), journal);
        ContainerRecord r = service.status(c.id()).record();
        assertEquals(ContainerState.EXITED, r.state());
        assertEquals(ContainerRecord.REASON_ERROR, r.reason());
        assertTrue(r.message().contains("monitor"), r.message());
        assertEquals("EXITED", recordedState(c.id()));
        assertEquals(List.of(), processes.running(), "the unwatched container was killed");
    }

    @Test
    void aStopWaitingOutItsGracePeriodIsWokenByTheExitFileNotByAPoll() throws Exception {
        ContainerRecord c = service.create(app());
        manager.exits().watch(Duration.ofHours(1)); // no sweep during this test
        manager.exits().fallbackPoll(Duration.ofHours(1)); // and no look unless woken
        CompletableFuture<Void> graceful = gracefulStopUnderWay(c, 3600);
        runtime.exit(c.id(), 0);
        graceful.get(30, TimeUnit.SECONDS);
        assertEquals(List.of("runtime kill ID SIGTERM", "runtime delete ID", "stopped ID 0"), journal);
    }

    @Test
    void aStopWaitingOutItsGracePeriodIsWokenWhenTheExitIsRecorded() throws Exception {
        ContainerRecord c = service.create(app());
        manager.exits().watch(Duration.ofHours(1)); // no sweep during this test
        manager.exits().fallbackPoll(Duration.ofHours(1)); // and no look unless woken
        CompletableFuture<Void> graceful = gracefulStopUnderWay(c, 3600);
        // no exit file: the monitor dies, a read notices and the exits thread records the exit
        runtime.monitorDied(c.id());
        service.status(c.id());
        graceful.get(30, TimeUnit.SECONDS);
        assertEquals(ContainerState.EXITED, manager.recorded(c.id()).state());
        assertEquals(255, manager.recorded(c.id()).exitCode());
    }

    @Test
    void whileWatchingADeadMonitorThatAReadNoticedIsReconciledAtOnceOnTheExitsThread() throws Exception {
        ContainerRecord c = service.create(app());
        service.start(c.id());
        manager.exits().watch(Duration.ofHours(1)); // no sweep during this test
        runtime.monitorDied(c.id());
        journal.clear();
        assertEquals(ContainerState.RUNNING, service.status(c.id()).record().state(), "the read answers as recorded");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        // the record reaches the disk just before the listeners hear of it: wait for both
        while (!("EXITED".equals(recordedState(c.id())) && journal.contains("stopped ID 255"))
                && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals("EXITED", recordedState(c.id()), "reconciled without waiting for the sweep");
        assertEquals(List.of("runtime kill ID SIGKILL", "runtime delete ID", "stopped ID 255"), journal);
        assertEquals(List.of(), processes.running(), "the unwatched container was killed");
    }

    @Test
    void anExitFileIsReportedAtOnceByAReadButRecordedOnlyByTheExitsComponent() throws IOException {
        ContainerRecord c = service.create(app());
        service.start(c.id());
        runtime.exit(c.id(), 0);
        journal.clear();
        ContainerRecord seen = service.status(c.id()).record();
        assertEquals(ContainerState.EXITED, seen.state());
        assertEquals(ContainerRecord.REASON_COMPLETED, seen.reason());
        assertEquals("RUNNING", recordedState(c.id()), "the read recorded nothing");
        assertEquals(List.of(), journal);
        manager.exits().sweep();
        assertEquals(List.of("runtime delete ID", "stopped ID 0"), journal);
        assertEquals("EXITED", recordedState(c.id()));
    }

    @Test
    void anExitWhileBerthWasDownIsPickedUpWithItsCodeAtTheNextStart() throws IOException {
        ContainerRecord c = service.create(app());
        service.start(c.id());
        manager.close();
        runtime.exit(c.id(), 3);
        start();
        assertEquals("EXITED", recordedState(c.id()), "recorded by the recovery");
        ContainerRecord r = service.status(c.id()).record();
        assertEquals(3, r.exitCode());
        assertEquals(ContainerRecord.REASON_ERROR, r.reason());
        assertTrue(r.finishedAt() >= r.startedAt() && r.startedAt() > 0);
        assertFalse(runtime.calls().contains("kill " + c.id() + " SIGKILL"), "a container that exited is not killed");
    }

    @Test
    void aRunningContainerWithALiveMonitorIsAdoptedRunningAtTheNextStart() throws IOException {
        ContainerRecord c = service.create(app());
        service.start(c.id());
        manager.close();
        journal.clear();
        start();
        assertEquals(ContainerState.RUNNING, service.status(c.id()).record().state());
        assertEquals(List.of(), journal, "nothing is killed, rolled back or released");
        assertEquals(Set.of(c.id()), Set.copyOf(runtime.known()));
        service.stop(c.id(), 10);
        assertEquals(List.of("runtime kill ID SIGTERM", "runtime delete ID", "stopped ID 143"), journal,
                "started before this berth: no second STARTED");
    }

    @Test
    void imageVolumesKeepTheirHoldsOverARestartGoWithTheContainerAndLeftoversGoAtStart() throws IOException {
        ContainerConfig.Mount volume = new ContainerConfig.Mount("/data", "", true, null, false, "busybox", "", List.of(), List.of());
        ContainerRecord c = service.create(new NewContainer("pod1", "busybox", "", null, "",
                logPath -> ContainerConfig.builder("app").mount(volume).build()));
        assertTrue(held.contains(c.id() + ".v0"), held.toString());
        assertEquals(1, mounts.mountCountUnder(dir.resolve("volumes")));
        String orphan = "b".repeat(64);
        new ImageVolumes(dir.resolve("volumes"), mounts, images).stage(orphan, ContainerConfig.builder("x").mount(volume).build());

        start();
        assertTrue(held.contains(c.id() + ".v0"), "a live container's volume keeps its hold: " + held);
        assertFalse(held.contains(orphan + ".v0"), "the volume of a container that does not exist is released: " + held);
        assertEquals(1, mounts.mountCountUnder(dir.resolve("volumes")));
        assertFalse(Files.exists(dir.resolve("volumes").resolve(orphan)));

        service.remove(c.id());
        assertEquals(Set.of(), held);
        assertEquals(List.of(), mounts.mounted());
        assertFalse(Files.exists(dir.resolve("volumes").resolve(c.id())));
    }

    @Test
    void aRecursiveReadOnlyMountIsAcceptedOnlyWhereTheHandlerIsSaidToMakeOne() throws IOException {
        Files.createDirectories(dir.resolve("data"));
        ContainerConfig.Mount rro = new ContainerConfig.Mount("/data", dir.resolve("data").toString(), true,
                ContainerConfig.Propagation.PRIVATE, true, "", "", List.of(), List.of());
        NewContainer withRro = new NewContainer("pod1", "busybox", "", null, "",
                logPath -> ContainerConfig.builder("app").mount(rro).build());
        // the fake runtime's binary has no features document: refused, as before any probe
        BerthException refused = assertThrows(BerthException.class, () -> service.create(withRro));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, refused.kind(), refused.getMessage());
        List<String> asked = new ArrayList<>();
        manager.useRecursiveReadOnlySupport((handler, binary) -> asked.add(handler));
        ContainerRecord c = service.create(withRro);
        assertEquals(List.of(runtime.handlers().defaultHandler()), asked, "the handler's probe decides");
        service.remove(c.id());
    }
}
