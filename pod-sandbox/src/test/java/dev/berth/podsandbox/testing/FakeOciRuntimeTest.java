package dev.berth.podsandbox.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.host.testing.FakeProcesses;
import dev.berth.podsandbox.oci.OciRuntime;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The fake OCI runtime keeps the contract the lifecycles rely on, as conmon and runc do. */
class FakeOciRuntimeTest {
    @TempDir
    Path dir;

    final FakeProcesses processes = new FakeProcesses();
    final FakeOciRuntime runtime = new FakeOciRuntime("runc", processes);

    OciRuntime.Layout layout() throws Exception {
        Path bundle = Files.createDirectories(dir.resolve("bundle"));
        return new OciRuntime.Layout(bundle, bundle.resolve("log"), dir.resolve("exits"), dir.resolve("sockets"));
    }

    @Test
    void aSignalEndsTheContainerWithItsCodeInTheExitFileAndItsMonitorGoes() throws Exception {
        OciRuntime.Layout l = layout();
        OciRuntime.Created c = runtime.create("c1", l, false, false, false, Duration.ofSeconds(1));
        assertEquals(Long.toString(c.conmonPid()), Files.readString(l.conmonPidFile()), "the pid files conmon writes");
        assertTrue(processes.alive(processes.identify(c.pid()).orElseThrow()));
        runtime.start("c1");
        assertTrue(runtime.kill("c1", "SIGTERM"));
        assertEquals("143", Files.readString(l.exitFile("c1")));
        assertEquals(List.of(), processes.running());
        assertFalse(runtime.kill("c1", "SIGKILL"), "an ended container is not an error");
        runtime.delete("c1");
        runtime.delete("c1");
        assertEquals(List.of("create c1", "start c1", "kill c1 SIGTERM", "kill c1 SIGKILL", "delete c1", "delete c1"),
                runtime.calls());
        assertEquals(FakeOciRuntime.State.DELETED, runtime.state("c1").orElseThrow());
    }

    @Test
    void aMonitorThatDiedLeavesTheContainerRunningWithoutAnExitFile() throws Exception {
        OciRuntime.Layout l = layout();
        OciRuntime.Created c = runtime.create("c1", l, false, false, false, Duration.ofSeconds(1));
        runtime.start("c1");
        runtime.monitorDied("c1");
        assertTrue(processes.startTime(c.pid()) > 0);
        assertTrue(processes.startTime(c.conmonPid()) < 0);
        assertFalse(Files.exists(l.exitFile("c1")));
        assertEquals(FakeOciRuntime.State.RUNNING, runtime.state("c1").orElseThrow());
    }

    @Test
    void aScriptedFailureFailsOnlyTheNextCallAndLeavesNothing() throws Exception {
        runtime.failNext("create");
        assertThrows(BerthException.class, () -> runtime.create("c1", layout(), false, false, false, Duration.ofSeconds(1)));
        assertEquals(List.of(), runtime.known());
        assertEquals(List.of(), processes.running());
        runtime.create("c1", layout(), false, false, false, Duration.ofSeconds(1));
        assertEquals(List.of("c1"), runtime.known());
    }

    @Test
    void aDetachedRunStartsTheBundlesProcessUnderItsCommandName() throws Exception {
        Path bundle = Files.createDirectories(dir.resolve("infra"));
        Files.writeString(bundle.resolve("config.json"), "{\"process\":{\"args\":[\"/catatonit\",\"-P\"]}}");
        long pid = runtime.runDetached("pod1", bundle, bundle.resolve("output.log"));
        assertEquals(java.util.Optional.of("catatonit"), processes.command(pid));
        assertTrue(runtime.exists("pod1"));
        runtime.forceDelete("pod1");
        assertFalse(runtime.exists("pod1"));
        assertEquals(List.of(), processes.running());
    }
}
