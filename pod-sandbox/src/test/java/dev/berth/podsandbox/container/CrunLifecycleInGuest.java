package dev.berth.podsandbox.container;

import static dev.berth.podsandbox.container.ContainerFixture.await;
import static dev.berth.podsandbox.container.ContainerFixture.logLines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import dev.berth.host.LinuxProcesses;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.ImageConfig;
import dev.berth.podsandbox.container.spec.SandboxContext;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The container lifecycle on a pure cgroup v2 system, with the crun handler (which refuses a
 * hybrid host) and runc for comparison. Runs only inside the guest that {@link CrunGuestTest}
 * boots ({@code CGROUP2_VM=1}); its name keeps surefire from picking it up on the host.
 */
@EnabledIfEnvironmentVariable(named = "CGROUP2_VM", matches = "1")
@Tag("root")
class CrunLifecycleInGuest {
    /** A {@code --tmpfs} directory of the guest: overlay upper dirs cannot live on its root. */
    static final Path STATE_BASE = Path.of(System.getProperty("berth.guest.stateDir", "/var/lib/berth-guest-test"));
    private static final Path CGROUP_ROOT = Path.of("/sys/fs/cgroup");

    private ContainerFixture fx;
    private ContainerManager m;

    @BeforeEach
    void setUp() throws Exception {
        assertTrue(Files.exists(CGROUP_ROOT.resolve("cgroup.controllers")), "not a cgroup v2 system");
        fx = new ContainerFixture(STATE_BASE);
        m = fx.manager();
    }

    @AfterEach
    void tearDown() throws Exception {
        fx.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"crun", "runc"})
    void createStartExecStopRemoveWithAMemoryLimit(String handler) throws Exception {
        String cgroup = "/berth-guest-" + handler + "-" + fx.tag;
        Path cgroupDir = CGROUP_ROOT.resolve(cgroup.substring(1));
        long limit = 64L << 20;
        ContainerConfig config = fx.config("hello-" + handler)
                .command("sh", "-c", "echo hello; sleep 1000")
                .resources(new Resources(null, null, null, null, null, limit, null, null, null, null, null))
                .build();
        ContainerRecord c = m.create(ContainerManager.newId(), new CreateRequest(config, ImageConfig.empty(), "busybox:test",
                SandboxContext.standalone("sandbox-" + fx.tag, cgroup), fx.rootfs, handler));
        try {
            assertEquals(ContainerState.CREATED, c.state());
            m.start(c.id());
            ContainerRecord running = m.status(c.id());
            assertEquals(ContainerState.RUNNING, running.state());
            assertTrue(running.pid() > 0, running.toString());
            assertTrue(LinuxProcesses.INSTANCE.startTime(running.pid()) > 0, "container process " + running.pid() + " not alive");
            await("the hello line in the CRI log", Duration.ofSeconds(30), () -> logged(running, "hello"));

            // the container's process sits in its own v2 cgroup, which carries the limit
            assertEquals("0::" + cgroup, Files.readString(Path.of("/proc", Long.toString(running.pid()), "cgroup")).strip());
            assertEquals(Long.toString(limit), Files.readString(cgroupDir.resolve("memory.max")).strip());
            System.out.println(handler + ": pid " + running.pid() + " in " + cgroupDir + ", memory.max "
                    + Files.readString(cgroupDir.resolve("memory.max")).strip());

            ExecResult r = m.execSync(c.id(), List.of("sh", "-c", "echo out; echo err >&2; exit 3"), Duration.ofSeconds(60));
            assertEquals(3, r.exitCode());
            assertEquals("out\n", new String(r.stdout(), StandardCharsets.UTF_8));
            assertEquals("err\n", new String(r.stderr(), StandardCharsets.UTF_8));
            assertEquals(ContainerState.RUNNING, m.status(c.id()).state());

            // sh as the pid namespace's init ignores SIGTERM: the stop falls back to SIGKILL
            ContainerRecord stopped = m.stop(c.id(), 1);
            assertEquals(ContainerState.EXITED, stopped.state());
            assertEquals(137, stopped.exitCode());
            assertEquals(stopped, m.stop(c.id(), 1));
            assertTrue(LinuxProcesses.INSTANCE.startTime(running.pid()) < 0, "container process survived the stop");

            m.remove(c.id());
            assertEquals(BerthException.Kind.NOT_FOUND, assertThrows(BerthException.class, () -> m.status(c.id())).kind());
            assertFalse(Files.exists(cgroupDir), "cgroup left behind: " + cgroupDir);
            assertFalse(Files.exists(Path.of(c.bundle())), "bundle left behind");
            assertFalse(LinuxProcesses.INSTANCE.alive(c.conmonPid(), c.conmonStartTime()), "conmon left behind");
            assertEquals(List.of(), fx.leftovers());
            m.remove(c.id());
        } finally {
            m.remove(c.id());
            if (Files.isDirectory(cgroupDir)) {
                Files.delete(cgroupDir);
            }
        }
    }

    private static boolean logged(ContainerRecord c, String line) {
        try {
            return logLines(Path.of(c.logPath()), "stdout").contains(line);
        } catch (IOException e) {
            return false;
        }
    }
}
