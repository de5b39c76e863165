package dev.berth.podsandbox.container;

import dev.berth.podsandbox.oci.RuntimeHandlers;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.images.reference.Digest;
import dev.berth.images.store.ImageRecord;
import dev.berth.podsandbox.oci.ConmonRuntime;
import dev.berth.host.LinuxProcesses;
import dev.berth.podsandbox.container.spec.HostFacts;
import dev.berth.podsandbox.container.spec.ImageConfig;
import dev.berth.podsandbox.sandbox.PodContext;
import dev.berth.podsandbox.sandbox.SandboxConfig.NamespaceOptions;
import dev.berth.podsandbox.sandbox.SandboxState;
import dev.berth.podsandbox.testing.FakeCgroups;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The container service's decisions and the events it reports, over containers that exist
 * only as records (their runtime handler is gone, so nothing is run) and root filesystems
 * that are plain directories; no root needed.
 */
class ContainerServiceEventsTest {
    @TempDir
    Path dir;

    private final List<String> events = new ArrayList<>();
    private final List<String> released = new ArrayList<>();
    private ContainerManager manager;

    private final ContainerImages images = new ContainerImages() {
        @Override
        public ImageRecord require(String ref) {
            throw BerthException.notFound("image %s not found", ref);
        }

        @Override
        public Optional<ImageRecord> find(String ref) {
            return Optional.empty();
        }

        @Override
        public ImageConfig config(ImageRecord image) {
            throw new AssertionError("no image is read");
        }

        @Override
        public List<Path> lowerDirs(Digest imageId) {
            throw new AssertionError("no image is mounted");
        }

        @Override
        public void hold(String containerId, Digest imageId) {
            throw new AssertionError("no image is held");
        }

        @Override
        public void release(String containerId) {
            released.add(containerId);
        }

        @Override
        public Set<String> holders() {
            return Set.of();
        }
    };

    private ContainerService service() {
        RuntimeHandlers runc = new RuntimeHandlers(Map.of("runc", dir.resolve("no-runc").toString()), "runc",
                ConmonRuntime.factory(dir.resolve("no-conmon"), dir, Duration.ofSeconds(1), Path::of));
        manager = new ContainerManager(dir.resolve("state"), dir.resolve("run"), runc,
                HostFacts.current(), rec -> false, ContainerManager.Options.defaults());
        ContainerService s = new ContainerService(manager, new ContainerRootfs(dir.resolve("layers"), dir.resolve("mounts")),
                images, new ImageVolumes(dir.resolve("volumes"), images), new FakeCgroups());
        s.listen(new ContainerListener() {
            @Override
            public void created(ContainerRecord c) {
                events.add("created " + c.id());
            }

            @Override
            public void started(ContainerRecord c) {
                events.add("started " + c.id());
            }

            @Override
            public void stopped(ContainerRecord c) {
                events.add("stopped " + c.id() + " " + c.exitCode());
            }

            @Override
            public void deleting(ContainerRecord c) {
                events.add("deleting " + c.id() + (manager.find(c.id()).isPresent() ? " (still there)" : " (gone)"));
            }

            @Override
            public void deleted(ContainerRecord c) {
                events.add("deleted " + c.id() + (manager.find(c.id()).isPresent() ? " (still there)" : " (gone)"));
            }
        });
        return s;
    }

    /** A container on record in {@code state}, in sandbox {@code sandboxId}, without a monitor. */
    private ContainerRecord onRecord(String id, String sandboxId, ContainerState state) throws Exception {
        return onRecord(id, sandboxId, state, 0);
    }

    /** A container on record, monitored by {@code monitorPid} (0: none). */
    private ContainerRecord onRecord(String id, String sandboxId, ContainerState state, long monitorPid) throws Exception {
        ContainerRecord r = SandboxContextsTest.record(id, state, 1);
        r = new ContainerRecord(id, r.name(), 0, sandboxId, "gone", r.imageRef(), r.config(), r.image(), r.rootfs(),
                dir.resolve("run/containers").resolve(id).toString(), r.logPath(), r.cgroupsPath(), state, false, 1_000,
                state == ContainerState.CREATED ? 0 : 2_000, state == ContainerState.EXITED ? 3_000 : 0, 0, "", "", 1,
                monitorPid, monitorPid > 0 ? LinuxProcesses.INSTANCE.startTime(monitorPid) : 0, Map.of(), Map.of());
        Path file = dir.resolve("state/containers").resolve(id).resolve("record.json");
        Files.createDirectories(file.getParent());
        Files.write(file, Json.mapper().writeValueAsBytes(r));
        Files.createDirectories(dir.resolve("layers").resolve(id));
        return r;
    }

    @Test
    void anExitNobodyAskedAboutIsReportedStoppedOnceAndNotStartedAgain() throws Exception {
        String id = "a".repeat(64);
        Process monitor = new ProcessBuilder("sleep", "60").start();
        try {
            onRecord(id, "pod1", ContainerState.RUNNING, monitor.pid());
            ContainerService s = service();
            Files.createDirectories(dir.resolve("run/exits"));
            Files.writeString(dir.resolve("run/exits").resolve(id), "3");
            manager.exits().sweep();
            manager.exits().sweep();
            assertEquals(List.of("stopped " + id + " 3"), events, "started before this berth: no second STARTED");
            assertEquals(ContainerState.EXITED, s.status(id).record().state());
        } finally {
            monitor.destroyForcibly();
        }
    }

    @Test
    void aRemovalIsReportedWhileTheContainerIsThereAndAgainOnceItIsGone() throws Exception {
        String id = "a".repeat(64);
        onRecord(id, "pod1", ContainerState.EXITED);
        ContainerService s = service();
        s.remove(id);
        assertEquals(List.of("deleting " + id + " (still there)", "deleted " + id + " (gone)"), events);
        assertEquals(List.of(id), released, "its image hold is dropped");
        assertFalse(Files.exists(dir.resolve("layers").resolve(id)), "its writable layer is gone");
        assertFalse(Files.exists(dir.resolve("state/containers").resolve(id)), "its record is gone");
        events.clear();
        s.remove(id);
        assertEquals(List.of(), events, "an unknown container is removed without events");
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, assertThrows(BerthException.class, () -> s.remove("")).kind());
    }

    @Test
    void removeAllRemovesThePodsContainersOnly() throws Exception {
        String mine = "a".repeat(64);
        String other = "b".repeat(64);
        onRecord(mine, "pod1", ContainerState.EXITED);
        onRecord(other, "pod2", ContainerState.EXITED);
        ContainerService s = service();
        s.stopAll("pod1");
        assertEquals(List.of(), events, "exited containers are not stopped again");
        s.removeAll("pod1");
        assertEquals(List.of("deleting " + mine + " (still there)", "deleted " + mine + " (gone)"), events);
        assertEquals(List.of(other), manager.list().stream().map(ContainerRecord::id).toList());
    }

    @Test
    void recoveryFreesTheRootFilesystemsAndHoldsOfContainersWithoutARecord() throws Exception {
        String known = "a".repeat(64);
        String leftover = "c".repeat(64);
        onRecord(known, "pod1", ContainerState.EXITED);
        Files.createDirectories(dir.resolve("layers").resolve(leftover));
        ContainerService s = service();
        s.recover();
        assertFalse(Files.exists(dir.resolve("layers").resolve(leftover)));
        assertEquals(List.of(leftover), released);
        assertTrue(Files.exists(dir.resolve("layers").resolve(known)));
    }

    @Test
    void aContainerNeedsAReadyPodThenAnImageNameThenAKnownImage() {
        ContainerService s = service();
        NewContainer request = new NewContainer("pod1", "busybox", "", null, "", logPath -> {
            throw new AssertionError("the config is translated only once the pod and the image are known");
        });
        BerthException e = assertThrows(BerthException.class, () -> s.create(request));
        assertEquals(BerthException.Kind.UNAVAILABLE, e.kind(), "no pods yet");
        PodContext ready = SandboxContextsTest.pod(NamespaceOptions.DEFAULT, 0, "/run/pod1/ns/net", "");
        PodContext notReady = new PodContext(ready.id(), SandboxState.NOTREADY, 0, "", "", "", "", "runc", "runc", "",
                "", "", "", "", ready.config());
        s.usePods(id -> notReady);
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, assertThrows(BerthException.class, () -> s.create(request)).kind());
        s.usePods(id -> ready);
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, assertThrows(BerthException.class,
                () -> s.create(new NewContainer("pod1", "", "", null, "", request.config()))).kind());
        assertEquals(BerthException.Kind.NOT_FOUND, assertThrows(BerthException.class, () -> s.create(request)).kind());
        assertEquals(List.of(), events);
        assertEquals(List.of(), manager.list());
    }
}
