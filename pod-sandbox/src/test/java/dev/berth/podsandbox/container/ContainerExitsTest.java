package dev.berth.podsandbox.container;

import dev.berth.podsandbox.oci.RuntimeHandlers;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.Json;
import dev.berth.podsandbox.oci.ConmonRuntime;
import dev.berth.host.LinuxProcesses;
import dev.berth.podsandbox.container.spec.HostFacts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reads never change a container; exits become records only through {@link ContainerExits}.
 * The containers here are records whose "monitor" is this test's own process (alive) or a pid
 * that does not exist (dead); no root, runtime or conmon is needed.
 */
class ContainerExitsTest {
    @TempDir
    Path dir;

    private ContainerManager manager() {
        RuntimeHandlers runc = new RuntimeHandlers(Map.of("runc", dir.resolve("no-runc").toString()), "runc",
                ConmonRuntime.factory(dir.resolve("no-conmon"), dir, Duration.ofSeconds(1), Path::of));
        return new ContainerManager(dir.resolve("state"), dir.resolve("run"), runc,
                HostFacts.current(), rec -> false, ContainerManager.Options.defaults());
    }

    /** A running container on record, monitored by {@code monitorPid} (its handler is gone, so nothing is run). */
    private ContainerRecord running(String id, long monitorPid) throws Exception {
        ContainerRecord r = SandboxContextsTest.record(id, ContainerState.RUNNING, 1);
        r = new ContainerRecord(r.id(), r.name(), 0, r.sandboxId(), "gone", r.imageRef(), r.config(), r.image(),
                r.rootfs(), dir.resolve("run/containers").resolve(id).toString(), r.logPath(), r.cgroupsPath(),
                ContainerState.RUNNING, false, 1_000, 2_000, 0, 0, "", "", 1, monitorPid,
                LinuxProcesses.INSTANCE.startTime(monitorPid), Map.of(), Map.of());
        Path file = dir.resolve("state/containers").resolve(id).resolve("record.json");
        Files.createDirectories(file.getParent());
        Files.write(file, Json.mapper().writeValueAsBytes(r));
        return r;
    }

    private ContainerRecord onDisk(String id) throws Exception {
        return Json.mapper().readValue(dir.resolve("state/containers").resolve(id).resolve("record.json").toFile(),
                ContainerRecord.class);
    }

    @Test
    void statusAndListReportAnExitAtOnceWithoutRecordingIt() throws Exception {
        String id = "a".repeat(64);
        running(id, ProcessHandle.current().pid());
        try (ContainerManager m = manager()) {
            List<ContainerRecord> exits = new ArrayList<>();
            m.exits().listen(exits::add);
            assertEquals(ContainerState.RUNNING, m.status(id).state());
            Files.createDirectories(dir.resolve("run/exits"));
            Files.writeString(dir.resolve("run/exits").resolve(id), "7");
            ContainerRecord seen = m.status(id);
            assertEquals(ContainerState.EXITED, seen.state());
            assertEquals(7, seen.exitCode());
            assertEquals(ContainerRecord.REASON_ERROR, seen.reason());
            assertTrue(seen.finishedAt() >= seen.startedAt());
            assertEquals(ContainerState.EXITED, m.list().get(0).state());
            assertEquals(ContainerState.EXITED, m.find(id).orElseThrow().state());
            assertEquals(ContainerState.RUNNING, onDisk(id).state(), "a read wrote the record");
            assertEquals(List.of(), exits, "a read reported an exit");

            m.exits().sweep();
            assertEquals(seen, onDisk(id));
            assertEquals(List.of(seen), exits);
            m.exits().sweep();
            assertEquals(1, exits.size(), "an exit is reported once");
        }
    }

    @Test
    void anExitDuringItsStartIsTheStartsToRecordReadsKeepTheContainerCreated() throws Exception {
        String id = "c".repeat(64);
        ContainerRecord r = running(id, ProcessHandle.current().pid());
        ContainerRecord created = new ContainerRecord(r.id(), r.name(), 0, r.sandboxId(), r.handler(), r.imageRef(), r.config(),
                r.image(), r.rootfs(), r.bundle(), r.logPath(), r.cgroupsPath(), ContainerState.CREATED, false, 1_000, 0, 0, 0,
                "", "", 1, r.conmonPid(), r.conmonStartTime(), Map.of(), Map.of());
        Files.write(dir.resolve("state/containers").resolve(id).resolve("record.json"), Json.mapper().writeValueAsBytes(created));
        try (ContainerManager m = manager()) {
            Files.createDirectories(dir.resolve("run/exits"));
            Files.writeString(dir.resolve("run/exits").resolve(id), "1");
            m.exits().startBegins(id);
            // the process ran and exited while StartContainer was between the runtime's start and its record
            assertEquals(ContainerState.CREATED, m.status(id).state(), "a read during the start shows no exit without a start");
            m.exits().sweep();
            assertEquals(ContainerState.CREATED, onDisk(id).state(), "nor does a sweep record one");
            m.exits().startEnded(id);
            ContainerRecord after = m.status(id);
            assertEquals(ContainerState.EXITED, after.state(), "once the start is over, the exit shows");
            assertEquals(1, after.exitCode());
        }
    }

    @Test
    void aContainerWhoseMonitorDiedIsLeftToTheReconcilerAndThenRecordedExited() throws Exception {
        String adopted = "a".repeat(64);
        String orphan = "b".repeat(64);
        running(adopted, ProcessHandle.current().pid());
        Process monitor = new ProcessBuilder("sleep", "60").start();
        running(orphan, monitor.pid());
        try {
            try (ContainerManager again = manager()) {
                List<ContainerRecord> exits = new ArrayList<>();
                again.exits().listen(exits::add);
                assertEquals(ContainerState.RUNNING, again.status(orphan).state());
                monitor.destroyForcibly().waitFor();
                assertEquals(ContainerState.RUNNING, again.status(orphan).state(), "a read decides nothing");
                assertEquals(ContainerState.RUNNING, again.find(orphan).orElseThrow().state());
                assertEquals(List.of(), exits);
                again.exits().sweep();
                ContainerRecord recorded = again.status(orphan);
                assertEquals(ContainerState.EXITED, recorded.state());
                assertEquals(255, recorded.exitCode());
                assertTrue(recorded.message().contains("conmon"), recorded.message());
                assertEquals(recorded, onDisk(orphan));
                assertEquals(List.of(recorded), exits);
                assertEquals(ContainerState.RUNNING, again.status(adopted).state(), "a container with its monitor runs on");
            }
        } finally {
            monitor.destroyForcibly();
        }
    }
}
