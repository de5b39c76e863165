package dev.berth.podsandbox.container;

import static dev.berth.podsandbox.container.ContainerFixture.await;
import static dev.berth.podsandbox.container.ContainerFixture.awaitExit;
import static dev.berth.podsandbox.container.ContainerFixture.logLines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cgroups.Cgroups;
import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import dev.berth.host.LinuxProcesses;
import dev.berth.podsandbox.container.spec.Capabilities;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.ImageConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Containers run by runc under conmon on a busybox root filesystem. {@link CrunSuiteInGuest}
 * runs a selection of these tests with the crun handler in the cgroup v2 guest.
 */
@Tag("root")
class ContainerLifecycleTest {
    ContainerFixture fx;
    ContainerManager m;

    @BeforeEach
    void setUp() throws Exception {
        fx = newFixture();
        m = fx.manager();
    }

    /** The fixture of each test: runc, state under the system temp directory. */
    ContainerFixture newFixture() throws Exception {
        return new ContainerFixture();
    }

    @AfterEach
    void tearDown() throws Exception {
        fx.close();
    }

    private ContainerRecord run(ContainerConfig config) {
        ContainerRecord c = m.create(ContainerManager.newId(), fx.request(config));
        m.start(c.id());
        return awaitExit(m, c.id());
    }

    private static ContainerConfig.Security security(boolean readonly, ContainerConfig.SeccompProfile seccomp,
                                                     List<String> add, List<String> drop) {
        return new ContainerConfig.Security(add, drop, false, null, "", null, List.of(), readonly, false, null, null,
                seccomp, "");
    }

    @Test
    void runsTheCommandWithArgsEnvUserAndWorkingDirectoryAsGiven() throws Exception {
        ContainerConfig config = fx.config("whoami")
                .command("sh", "-c")
                .args("id; pwd; echo \"FOO=$FOO BAR=$BAR\"")
                .env("FOO", "from-config")
                .workingDir("/work/dir")
                .security(new ContainerConfig.Security(List.of(), List.of(), false, 1000L, "", null, List.of(3000L),
                        false, false, null, null, null, ""))
                .build();
        ImageConfig image = new ImageConfig(List.of("/bin/false"), List.of("ignored"), List.of("BAR=from-image",
                "FOO=from-image"), "/", "", "");
        ContainerRecord c = m.create(ContainerManager.newId(), fx.request(config, image, fx.handler));
        assertEquals(ContainerState.CREATED, c.state());
        assertTrue(c.pid() > 0);
        m.start(c.id());
        ContainerRecord done = awaitExit(m, c.id());
        assertEquals(0, done.exitCode());
        assertEquals(ContainerRecord.REASON_COMPLETED, done.reason());
        assertTrue(done.createdAt() <= done.startedAt() && done.startedAt() <= done.finishedAt(), done.toString());
        List<String> out = logLines(Path.of(done.logPath()), "stdout");
        assertEquals("uid=1000(app) gid=1001(appgrp) groups=1001(appgrp),2000(extra),3000", out.get(0));
        assertEquals("/work/dir", out.get(1));
        assertEquals("FOO=from-config BAR=from-image", out.get(2));
    }

    @Test
    void aFailingCommandReportsItsExitCodeAndError() throws Exception {
        ContainerRecord done = run(fx.config("fails").command("sh", "-c", "echo oops >&2; exit 42").build());
        assertEquals(42, done.exitCode());
        assertEquals(ContainerRecord.REASON_ERROR, done.reason());
        assertEquals(List.of("oops"), logLines(Path.of(done.logPath()), "stderr"));
    }

    @Test
    void readonlyRootfsRefusesWrites() throws Exception {
        ContainerRecord ro = run(fx.config("ro").command("sh", "-c", "touch /newfile")
                .security(security(true, null, List.of(), List.of())).build());
        assertNotEquals(0, ro.exitCode());
        assertTrue(String.join("\n", logLines(Path.of(ro.logPath()), "stderr")).contains("Read-only file system"));
        assertFalse(Files.exists(fx.rootfs.resolve("newfile")));
        ContainerRecord rw = run(fx.config("rw").command("sh", "-c", "touch /newfile").build());
        assertEquals(0, rw.exitCode());
        assertTrue(Files.exists(fx.rootfs.resolve("newfile")));
    }

    @Test
    void runtimeDefaultSeccompRefusesABlockedSyscallThatUnconfinedAllows() throws Exception {
        String probe = "grep Seccomp: /proc/self/status; unshare -U true && echo allowed || echo refused";
        ContainerRecord confined = run(fx.config("confined").command("sh", "-c", probe)
                .security(security(false, ContainerConfig.SeccompProfile.runtimeDefault(), List.of(), List.of())).build());
        List<String> out = logLines(Path.of(confined.logPath()), "stdout");
        assertEquals(List.of("Seccomp:\t2", "refused"), out);
        ContainerRecord open = run(fx.config("unconfined").command("sh", "-c", probe)
                .security(security(false, ContainerConfig.SeccompProfile.unconfined(), List.of(), List.of())).build());
        assertEquals(List.of("Seccomp:\t0", "allowed"), logLines(Path.of(open.logPath()), "stdout"));
        ContainerRecord legacy = run(fx.config("legacy").command("sh", "-c", probe)
                .security(new ContainerConfig.Security(List.of(), List.of(), false, null, "", null, List.of(), false,
                        false, null, null, null, "runtime/default")).build());
        assertEquals(List.of("Seccomp:\t2", "refused"), logLines(Path.of(legacy.logPath()), "stdout"));
    }

    @Test
    void capabilitiesAreTheDefaultSetWithAddsAndDrops() throws Exception {
        ContainerRecord dflt = run(fx.config("caps-default").command("grep", "CapEff:", "/proc/self/status").build());
        assertEquals(Set.copyOf(Capabilities.DEFAULT), capsOf(dflt));
        ContainerRecord changed = run(fx.config("caps-changed").command("grep", "CapEff:", "/proc/self/status")
                .security(security(false, null, List.of("NET_ADMIN", "CAP_SYS_TIME"), List.of("chown", "CAP_KILL")))
                .build());
        Set<String> expected = new java.util.HashSet<>(Capabilities.DEFAULT);
        expected.addAll(List.of("CAP_NET_ADMIN", "CAP_SYS_TIME"));
        expected.removeAll(List.of("CAP_CHOWN", "CAP_KILL"));
        assertEquals(expected, capsOf(changed));
        ContainerRecord none = run(fx.config("caps-none").command("grep", "CapEff:", "/proc/self/status")
                .security(security(false, null, List.of(), List.of("ALL"))).build());
        assertEquals(Set.of(), capsOf(none));
    }

    private static Set<String> capsOf(ContainerRecord r) throws Exception {
        String line = logLines(Path.of(r.logPath()), "stdout").get(0);
        return Capabilities.fromMask(Long.parseUnsignedLong(line.substring("CapEff:".length()).trim(), 16));
    }

    @Test
    void stopFallsBackToSigkillWhenTheProcessIgnoresTheStopSignal() throws Exception {
        ContainerRecord c = m.create(ContainerManager.newId(), fx.request(fx.config("stubborn")
                .command("sh", "-c", "trap '' TERM; echo ready; while true; do sleep 1; done").build()));
        m.start(c.id());
        await("the trap to be set", Duration.ofSeconds(10), () -> logged(c, "ready"));
        ContainerRecord stopped = m.stop(c.id(), 1);
        assertEquals(ContainerState.EXITED, stopped.state());
        assertEquals(137, stopped.exitCode());
        assertTrue(stopped.finishedAt() - stopped.startedAt() >= 1_000_000_000L, stopped.toString());
        // idempotent
        assertEquals(stopped, m.stop(c.id(), 1));
        // conmon writes the exit file, then ends on its own (a moment later on a slow machine)
        await("conmon to end after the container", Duration.ofSeconds(10),
                () -> !LinuxProcesses.INSTANCE.alive(c.conmonPid(), c.conmonStartTime()));
    }

    /** A running container whose shell only notes SIGTERM, and a StopContainer of 300 s waiting on it. */
    private CompletableFuture<ContainerRecord> gracefulStopOfAStubbornContainer(String name) {
        ContainerRecord c = m.create(ContainerManager.newId(), fx.request(fx.config(name)
                .command("sh", "-c", "trap 'echo got-term' TERM; echo ready; while true; do sleep 1; done").build()));
        m.start(c.id());
        await("the trap to be set", Duration.ofSeconds(10), () -> logged(c, "ready"));
        CompletableFuture<ContainerRecord> graceful = ContainerLifecycleFakeTest.async(() -> m.stop(c.id(), 300));
        await("the stop signal", Duration.ofSeconds(10), () -> logged(c, "got-term"));
        return graceful;
    }

    @Test
    void aForcedStopDuringALongGracePeriodIsNotHeldUpByIt() throws Exception {
        CompletableFuture<ContainerRecord> graceful = gracefulStopOfAStubbornContainer("stubborn-forced");
        String id = m.list().get(0).id();
        CompletableFuture<ContainerRecord> forced = ContainerLifecycleFakeTest.async(() -> m.stop(id, 0));
        assertEquals(137, forced.get(30, TimeUnit.SECONDS).exitCode());
        assertEquals(137, graceful.get(30, TimeUnit.SECONDS).exitCode(), "the graceful stop ends with the container");
    }

    @Test
    void aRemoveDuringALongGracePeriodKillsAndRemovesAtOnce() throws Exception {
        CompletableFuture<ContainerRecord> graceful = gracefulStopOfAStubbornContainer("stubborn-removed");
        ContainerRecord c = m.list().get(0);
        CompletableFuture<Void> removed = ContainerLifecycleFakeTest.async(() -> {
            m.remove(c.id());
            return null;
        });
        removed.get(30, TimeUnit.SECONDS);
        assertEquals(List.of(), m.list());
        // the graceful stop ends with the container: killed, or already gone when it looked
        try {
            assertEquals(137, graceful.get(30, TimeUnit.SECONDS).exitCode());
        } catch (ExecutionException e) {
            assertEquals(BerthException.Kind.NOT_FOUND, ((BerthException) e.getCause()).kind(), e.toString());
        }
        assertFalse(LinuxProcesses.INSTANCE.alive(c.conmonPid(), c.conmonStartTime()));
        assertEquals(List.of(), fx.leftovers());
    }

    @Test
    void stopUsesTheImageStopSignal() throws Exception {
        ImageConfig image = new ImageConfig(List.of(), List.of(), List.of(), "", "", "SIGUSR1");
        ContainerRecord c = m.create(ContainerManager.newId(), fx.request(fx.config("usr1")
                .command("sh", "-c", "trap 'echo got-usr1; exit 5' USR1; echo ready; while true; do sleep 1; done")
                .build(), image, fx.handler));
        m.start(c.id());
        await("the trap to be set", Duration.ofSeconds(10), () -> logged(c, "ready"));
        ContainerRecord stopped = m.stop(c.id(), 30);
        assertEquals(5, stopped.exitCode());
    }

    private static boolean logged(ContainerRecord c, String line) {
        try {
            return logLines(Path.of(c.logPath()), "stdout").contains(line);
        } catch (java.io.IOException e) {
            return false;
        }
    }

    @Test
    void logsAreInTheCriFormatWithPartialLinesForLongLines() throws Exception {
        ContainerRecord done = run(fx.config("long").command("sh", "-c",
                "echo short; head -c 20000 /dev/zero | tr '\\0' x; echo; echo after").build());
        List<String> raw = Files.readAllLines(Path.of(done.logPath()));
        String format = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d+(Z|[+-]\\d\\d:\\d\\d) (stdout|stderr) [PF] .*";
        for (String l : raw) {
            assertTrue(l.matches(format), l);
        }
        assertTrue(raw.stream().anyMatch(l -> l.split(" ")[2].equals("P")), "no partial line in " + raw.size());
        assertEquals(List.of("short", "x".repeat(20000), "after"), logLines(Path.of(done.logPath()), "stdout"));
    }

    @Test
    void reopenLogStartsANewFileWithoutLosingLines() throws Exception {
        ContainerRecord c = m.create(ContainerManager.newId(), fx.request(fx.config("chatty").command("sh", "-c",
                "i=0; while [ $i -lt 400 ]; do echo line$i; i=$((i+1)); sleep 0.005; done").build()));
        m.start(c.id());
        Path log = Path.of(c.logPath());
        await("some output", Duration.ofSeconds(10), () -> logged(c, "line20"));
        Path rotated = log.resolveSibling("chatty.log.1");
        Files.move(log, rotated);
        m.reopenLog(c.id());
        assertTrue(Files.exists(log));
        awaitExit(m, c.id());
        List<String> lines = new java.util.ArrayList<>(logLines(rotated, "stdout"));
        lines.addAll(logLines(log, "stdout"));
        assertFalse(logLines(log, "stdout").isEmpty(), "nothing written to the reopened file");
        for (int i = 0; i < 400; i++) {
            assertEquals("line" + i, lines.get(i));
        }
        assertEquals(400, lines.size());
        m.remove(c.id());
        assertThrows(BerthException.class, () -> m.reopenLog(c.id()));
    }

    @Test
    void execSyncReturnsOutputAndExitCodeAndKillsOnTimeout() throws Exception {
        ContainerRecord c = m.create(ContainerManager.newId(), fx.request(fx.config("exec").command("sleep", "1000").build()));
        m.start(c.id());
        ExecResult r = m.execSync(c.id(), List.of("sh", "-c", "echo out; echo err >&2; exit 3"), Duration.ofSeconds(30));
        assertEquals(3, r.exitCode());
        assertEquals("out\n", new String(r.stdout(), StandardCharsets.UTF_8));
        assertEquals("err\n", new String(r.stderr(), StandardCharsets.UTF_8));
        assertFalse(r.stdoutTruncated());
        BerthException e = assertThrows(BerthException.class,
                () -> m.execSync(c.id(), List.of("sleep", "4711"), Duration.ofSeconds(1)));
        assertEquals(BerthException.Kind.DEADLINE_EXCEEDED, e.kind());
        await("the timed-out exec to be gone", Duration.ofSeconds(10), () -> !hasProcess("sleep 4711"));
        // a deadline that passes before the runtime has even started the process
        BerthException early = assertThrows(BerthException.class,
                () -> m.execSync(c.id(), List.of("sleep", "4712"), Duration.ofMillis(1)));
        assertEquals(BerthException.Kind.DEADLINE_EXCEEDED, early.kind());
        await("the exec that timed out while starting to be gone", Duration.ofSeconds(10), () -> !hasProcess("sleep 4712"));
        ExecResult ps = m.execSync(c.id(), List.of("ps", "-o", "pid,stat,args"), Duration.ofSeconds(30));
        String table = new String(ps.stdout(), StandardCharsets.UTF_8);
        assertEquals(0, ps.exitCode(), table);
        assertTrue(table.contains("sleep 1000"), "ps lists the container's processes: " + table);
        assertFalse(table.contains(" Z "), table);
        assertEquals(ContainerState.RUNNING, m.status(c.id()).state());
    }

    @Test
    void execOutputBeyondTheCapIsTruncatedWithANote() throws Exception {
        ContainerManager capped = fx.manager(new ContainerManager.Options(1000, Duration.ofMinutes(1)));
        ContainerRecord c = capped.create(ContainerManager.newId(), fx.request(fx.config("capped").command("sleep", "1000").build()));
        capped.start(c.id());
        ExecResult r = capped.execSync(c.id(), List.of("sh", "-c", "head -c 5000 /dev/zero | tr '\\0' y"),
                Duration.ofSeconds(30));
        assertEquals(0, r.exitCode());
        assertTrue(r.stdoutTruncated());
        String out = new String(r.stdout(), StandardCharsets.UTF_8);
        assertTrue(out.startsWith("y".repeat(1000) + "\n[berth: output truncated"), out);
    }

    private static boolean hasProcess(String cmdline) {
        try (var procs = Files.list(Path.of("/proc"))) {
            return procs.anyMatch(p -> {
                try {
                    return Files.readString(p.resolve("cmdline")).replace('\0', ' ').trim().equals(cmdline);
                } catch (Exception ex) {
                    return false;
                }
            });
        } catch (java.io.IOException ex) {
            return true;
        }
    }

    @Test
    void updateResourcesChangesTheLiveCgroupAndTheRecord() throws Exception {
        String cgroup = "/berth-test-" + fx.tag;
        ContainerRecord c = m.create(ContainerManager.newId(), new dev.berth.podsandbox.container.CreateRequest(fx.config("limited")
                .command("sleep", "1000")
                .resources(new Resources(512L, null, null, null, null, 64L << 20, null, null, null, null,
                        null)).build(), ImageConfig.empty(), "busybox:test",
                dev.berth.podsandbox.container.spec.SandboxContext.standalone("s-" + fx.tag, cgroup), fx.rootfs, ""));
        m.start(c.id());
        Path limit = Path.of("/sys/fs/cgroup/memory" + cgroup, "memory.limit_in_bytes");
        assertEquals(64L << 20, Long.parseLong(Files.readString(limit).trim()));
        Resources bigger = new Resources(1024L, null, null, null, null, 128L << 20,
                null, null, null, null, null);
        ContainerRecord updated = m.updateResources(c.id(), bigger);
        assertEquals(128L << 20, Long.parseLong(Files.readString(limit).trim()));
        assertEquals(1024L, Long.parseLong(Files.readString(Path.of("/sys/fs/cgroup/cpu" + cgroup, "cpu.shares")).trim()));
        assertEquals(bigger, updated.config().resources());
        m.remove(c.id());
        assertFalse(Files.exists(limit.getParent()), "cgroup left behind");
    }

    @Test
    void removeKillsARunningContainerAndFreesEverything() throws Exception {
        ContainerRecord c = m.create(ContainerManager.newId(), fx.request(fx.config("doomed").command("sleep", "1000").build()));
        m.start(c.id());
        m.remove(c.id());
        assertThrows(BerthException.class, () -> m.status(c.id()));
        assertFalse(Files.exists(Path.of(c.bundle())));
        assertFalse(LinuxProcesses.INSTANCE.alive(c.conmonPid(), c.conmonStartTime()));
        assertEquals(List.of(), fx.leftovers());
        m.remove(c.id()); // unknown id: success
        m.remove("no-such-container");
    }

    @Test
    void badInputIsRefusedAndLeavesNothingBehind() throws Exception {
        BerthException missing = assertThrows(BerthException.class, () -> m.create(ContainerManager.newId(), fx.request(fx.config("m")
                .command("true").mount(new ContainerConfig.Mount("/data", fx.dir.resolve("absent").toString(), false,
                        null)).build())));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, missing.kind());
        BerthException noCommand = assertThrows(BerthException.class,
                () -> m.create(ContainerManager.newId(), fx.request(fx.config("nocmd").build())));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, noCommand.kind());
        BerthException notFound = assertThrows(BerthException.class,
                () -> m.create(ContainerManager.newId(), fx.request(fx.config("nobin").command("/bin/does-not-exist").build())));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, notFound.kind());
        ContainerRecord first = m.create(ContainerManager.newId(), fx.request(fx.config("twin").command("true").build()));
        BerthException dup = assertThrows(BerthException.class,
                () -> m.create(ContainerManager.newId(), fx.request(fx.config("twin").command("true").build())));
        assertEquals(BerthException.Kind.ALREADY_EXISTS, dup.kind());
        assertEquals(List.of(first.id()), m.list().stream().map(ContainerRecord::id).toList());
        m.remove(first.id());
        assertEquals(List.of(), fx.leftovers());
        try (var s = Files.list(fx.runDir.resolve("containers"))) {
            assertEquals(0, s.count());
        }
        assertEquals(BerthException.Kind.NOT_FOUND,
                assertThrows(BerthException.class, () -> m.start("nope")).kind());
    }

    @Test
    void aNewManagerAdoptsRunningContainersAndReportsThoseThatExitedMeanwhile() throws Exception {
        ContainerRecord steady = m.create(ContainerManager.newId(), fx.request(fx.config("steady").command("sleep", "1000").build()));
        m.start(steady.id());
        ContainerRecord brief = m.create(ContainerManager.newId(), fx.request(fx.config("brief").command("sh", "-c", "sleep 1; exit 7").build()));
        m.start(brief.id());
        ContainerRecord orphan = m.create(ContainerManager.newId(), fx.request(fx.config("orphan").command("sleep", "1000").build()));
        m.start(orphan.id());
        // berth "dies" here: a new manager reads the same state; meanwhile one container exits
        // and one loses its conmon
        assertTrue(LinuxProcesses.INSTANCE.signal(orphan.conmonPid(), 9));
        await("brief to exit", Duration.ofSeconds(30), () -> Files.exists(fx.runDir.resolve("exits").resolve(brief.id())));
        ContainerManager again = fx.manager();
        ContainerRecord s = again.status(steady.id());
        assertEquals(ContainerState.RUNNING, s.state());
        assertEquals(steady.pid(), s.pid());
        assertTrue(LinuxProcesses.INSTANCE.startTime(s.pid()) > 0);
        ContainerRecord b = again.status(brief.id());
        assertEquals(ContainerState.EXITED, b.state());
        assertEquals(7, b.exitCode());
        assertTrue(b.finishedAt() > b.startedAt());
        ContainerRecord o = again.status(orphan.id());
        assertEquals(ContainerState.EXITED, o.state());
        assertEquals(ContainerRecord.REASON_ERROR, o.reason());
        assertTrue(o.message().contains("conmon"), o.message());
        await("the unmonitored container to be killed", Duration.ofSeconds(10),
                () -> LinuxProcesses.INSTANCE.startTime(orphan.pid()) < 0);
        ExecResult r = again.execSync(steady.id(), List.of("echo", "still here"), Duration.ofSeconds(30));
        assertEquals("still here\n", new String(r.stdout(), StandardCharsets.UTF_8));
        ContainerRecord stopped = again.stop(steady.id(), 1);
        assertEquals(ContainerState.EXITED, stopped.state());
    }

    @Test
    void aCreateCutShortByACrashIsRolledBackByTheNextManager() throws Exception {
        ContainerRecord c = m.create(ContainerManager.newId(), fx.request(fx.config("half").command("sleep", "1000").build()));
        // berth died after conmon created the container but before the record said so
        Path record = fx.stateDir.resolve("containers").resolve(c.id()).resolve("record.json");
        com.fasterxml.jackson.databind.node.ObjectNode json = (com.fasterxml.jackson.databind.node.ObjectNode)
                dev.berth.common.Json.mapper().readTree(record.toFile());
        json.put("creating", true);
        json.put("conmonPid", 0);
        Files.writeString(record, json.toString());
        ContainerManager again = fx.manager();
        assertEquals(List.of(), again.list());
        assertFalse(Files.exists(record.getParent()));
        assertFalse(Files.exists(Path.of(c.bundle())));
        await("conmon to be gone", Duration.ofSeconds(10), () -> !LinuxProcesses.INSTANCE.alive(c.conmonPid(), c.conmonStartTime()));
        assertEquals(List.of(), fx.leftovers());
    }

    @Test
    void aContainerRuncStartedBeforeACrashIsAdoptedRunningNotStartedAgain() throws Exception {
        ContainerRecord c = m.create(ContainerManager.newId(), fx.request(fx.config("started").command("sleep", "1000").build()));
        assertEquals(java.util.Optional.of("created"), m.runtime(c).status(c.id()));
        m.runtime(c).start(c.id()); // berth died before it recorded RUNNING
        assertEquals(java.util.Optional.of("running"), m.runtime(c).status(c.id()));
        ContainerManager again = fx.manager();
        ContainerRecord s = again.status(c.id());
        assertEquals(ContainerState.RUNNING, s.state());
        assertTrue(s.startedAt() > 0);
        assertTrue(LinuxProcesses.INSTANCE.startTime(c.pid()) > 0, "still running");
        ContainerRecord stopped = again.stop(c.id(), 1);
        assertEquals(ContainerState.EXITED, stopped.state());
        again.remove(c.id());
        assertEquals(java.util.Optional.empty(), again.runtime(c).status(c.id()), "runc no longer knows it");
    }

    @Test
    void aConmonLauncherLeftBlockedOnItsSyncFifoIsKilledByTheNextManager() throws Exception {
        Path bundle = Files.createDirectories(fx.runDir.resolve("containers").resolve("e".repeat(64)));
        Path fifo = bundle.resolve("sync.fifo");
        assertTrue(dev.berth.host.Command.run("mkfifo", "-m", "0600", fifo.toString()).ok());
        // as ConmonRuntime starts conmon; nobody opens the FIFO for reading: the shell blocks
        Process sh = dev.berth.host.Command.of(List.of("/bin/sh", "-c", "f=$1; shift; exec \"$@\" 3>\"$f\"", "sh",
                fifo.toString(), "/bin/true", "--api-version", "1")).start();
        try {
            assertFalse(sh.waitFor(200, TimeUnit.MILLISECONDS), "the launcher blocks opening the FIFO");
            fx.manager();
            assertTrue(sh.waitFor(30, TimeUnit.SECONDS), "the next manager killed it");
            assertEquals(137, sh.exitValue());
            assertFalse(Files.exists(bundle), "the bundle without a record is gone");
        } finally {
            sh.destroyForcibly();
        }
    }

    @Test
    void listFiltersAndVerboseInfo() throws Exception {
        ContainerRecord a = m.create(ContainerManager.newId(), fx.request(fx.config("a").command("sleep", "1000")
                .labels(java.util.Map.of("app", "web", "tier", "front")).build()));
        ContainerRecord b = m.create(ContainerManager.newId(), fx.request(fx.config("b").command("sleep", "1000")
                .labels(java.util.Map.of("app", "db")).build()));
        m.start(b.id());
        assertEquals(List.of(a.id(), b.id()), m.list(ContainerFilter.all()).stream().map(ContainerRecord::id).toList());
        assertEquals(List.of(b.id()), m.list(new ContainerFilter("", ContainerState.RUNNING, "", null)).stream()
                .map(ContainerRecord::id).toList());
        assertEquals(List.of(a.id()), m.list(new ContainerFilter(a.id().substring(0, 12), null, a.sandboxId(),
                java.util.Map.of("app", "web"))).stream().map(ContainerRecord::id).toList());
        assertEquals(List.of(), m.list(new ContainerFilter("", null, "other-sandbox", null)));
        com.fasterxml.jackson.databind.JsonNode info = dev.berth.common.Json.mapper().readTree(m.verboseInfo(b.id()));
        assertEquals(b.pid(), info.get("pid").asLong());
        assertEquals(b.bundle(), info.get("bundle").asText());
        assertEquals("sleep", info.path("runtimeSpec").path("process").path("args").get(0).asText());
    }

    @Test
    void joinsThePodNetworkNamespaceByPathAndHasItsOwnPidNamespace() throws Exception {
        Path pin = Files.createFile(fx.dir.resolve("netns"));
        Process unshare = new ProcessBuilder("unshare", "--net=" + pin, "true").inheritIO().start();
        assertEquals(0, unshare.waitFor());
        try {
            long inode = (Long) Files.getAttribute(pin, "unix:ino");
            dev.berth.podsandbox.container.spec.SandboxContext sb = fx.sandbox()
                    .withNamespaces(dev.berth.podsandbox.container.spec.SandboxContext.Namespace.join(pin.toString()),
                            null, null, null)
                    .withPodFiles(null, null, null, null, "podhost");
            ContainerRecord c = m.create(ContainerManager.newId(), new CreateRequest(fx.config("netns").command("sh", "-c",
                    "readlink /proc/self/ns/net; echo $$; hostname").build(), ImageConfig.empty(), "busybox:test", sb,
                    fx.rootfs, fx.handler));
            m.start(c.id());
            ContainerRecord done = awaitExit(m, c.id());
            assertEquals(List.of("net:[" + inode + "]", "1", "podhost"), logLines(Path.of(done.logPath()), "stdout"));
            m.remove(c.id());
        } finally {
            new ProcessBuilder("umount", pin.toString()).inheritIO().start().waitFor();
        }
    }

    @Test
    void aContainerKilledByTheOomKillerIsReportedOomKilled() throws Exception {
        String cgroup = "/berth-test-oom-" + fx.tag;
        // the agent's probe: the cgroups module counts OOM kills in the container's cgroup
        // (memory.oom_control on v1, memory.events on v2)
        Cgroups cgroups = Cgroups.detect("cgroupfs");
        ContainerManager withProbe = fx.manager(rec -> cgroups.oomKills(rec.cgroupsPath()) > 0);
        Path memoryCgroup = Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers"))
                ? Path.of("/sys/fs/cgroup" + cgroup) : Path.of("/sys/fs/cgroup/memory" + cgroup);
        long limit = 16L << 20;
        ContainerRecord c = withProbe.create(ContainerManager.newId(), new CreateRequest(fx.config("hog")
                .command("dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
                .resources(new Resources(null, null, null, null, null, limit, limit, null, null, null, null))
                .build(), ImageConfig.empty(), "busybox:test",
                dev.berth.podsandbox.container.spec.SandboxContext.standalone("s-" + fx.tag, cgroup), fx.rootfs, fx.handler));
        withProbe.start(c.id());
        ContainerRecord done = awaitExit(withProbe, c.id());
        assertEquals(137, done.exitCode(), done.toString());
        assertEquals(ContainerRecord.REASON_OOM_KILLED, done.reason(), done.toString());
        assertTrue(Files.isDirectory(memoryCgroup), "the OOM was counted in " + memoryCgroup);
        // a container that ends normally under the same kind of limit is not OOMKilled
        ContainerRecord calm = withProbe.create(ContainerManager.newId(), new CreateRequest(fx.config("calm").command("true")
                .resources(new Resources(null, null, null, null, null, limit, limit, null, null, null, null))
                .build(), ImageConfig.empty(), "busybox:test",
                dev.berth.podsandbox.container.spec.SandboxContext.standalone("s-" + fx.tag, cgroup + "-calm"),
                fx.rootfs, fx.handler));
        withProbe.start(calm.id());
        assertEquals(ContainerRecord.REASON_COMPLETED, awaitExit(withProbe, calm.id()).reason());
        withProbe.remove(calm.id());
        withProbe.remove(c.id());
        assertFalse(Files.exists(memoryCgroup), "cgroup left behind: " + memoryCgroup);
        assertFalse(Files.exists(Path.of(memoryCgroup + "-calm")), "cgroup left behind: " + memoryCgroup + "-calm");

        // without a cgroup probe, conmon's OOM marker in the bundle tells; it is written
        // there, not into berth's working directory, and goes with the bundle
        Path cwdMarker = Path.of("oom").toAbsolutePath();
        java.nio.file.attribute.FileTime before = Files.exists(cwdMarker) ? Files.getLastModifiedTime(cwdMarker) : null;
        ContainerRecord marked = m.create(ContainerManager.newId(), new CreateRequest(fx.config("hog2")
                .command("dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
                .resources(new Resources(null, null, null, null, null, limit, limit, null, null, null, null))
                .build(), ImageConfig.empty(), "busybox:test",
                dev.berth.podsandbox.container.spec.SandboxContext.standalone("s-" + fx.tag, cgroup + "-2"),
                fx.rootfs, fx.handler));
        m.start(marked.id());
        ContainerRecord markedDone = awaitExit(m, marked.id());
        assertEquals(137, markedDone.exitCode(), markedDone.toString());
        assertEquals(ContainerRecord.REASON_OOM_KILLED, markedDone.reason(), markedDone.toString());
        assertTrue(Files.exists(Path.of(marked.bundle(), "oom")), "conmon's marker is in the bundle");
        m.remove(marked.id());
        assertFalse(Files.exists(Path.of(marked.bundle())));
        assertEquals(before, Files.exists(cwdMarker) ? Files.getLastModifiedTime(cwdMarker) : null,
                "conmon wrote into the working directory " + cwdMarker.getParent());
        assertFalse(Files.exists(Path.of(memoryCgroup + "-2")), "cgroup left behind: " + memoryCgroup + "-2");
    }

    @Test
    void exitsAreReportedToListenersWithoutAnyoneAsking() throws Exception {
        java.util.concurrent.LinkedBlockingQueue<ContainerRecord> exits = new java.util.concurrent.LinkedBlockingQueue<>();
        m.exits().listen(exits::add);
        m.exits().watch(Duration.ofMillis(500));
        ContainerRecord c = m.create(ContainerManager.newId(), fx.request(fx.config("short").command("sh", "-c", "exit 3").build()));
        m.start(c.id());
        ContainerRecord seen = exits.poll(30, java.util.concurrent.TimeUnit.SECONDS);
        org.junit.jupiter.api.Assertions.assertNotNull(seen, "no exit event");
        assertEquals(c.id(), seen.id());
        assertEquals(3, seen.exitCode());
        // it exits about as soon as it starts: still reported with its start time, never as unstarted
        assertTrue(seen.startedAt() > 0 && seen.finishedAt() >= seen.startedAt(), seen.toString());
        ContainerRecord lost = m.create(ContainerManager.newId(), fx.request(fx.config("lost").command("sleep", "1000").build()));
        m.start(lost.id());
        assertTrue(LinuxProcesses.INSTANCE.signal(lost.conmonPid(), 9));
        ContainerRecord dead = exits.poll(30, java.util.concurrent.TimeUnit.SECONDS);
        org.junit.jupiter.api.Assertions.assertNotNull(dead, "no event for a container whose conmon died");
        assertEquals(lost.id(), dead.id());
        assertTrue(dead.message().contains("conmon"), dead.message());
        ContainerRecord stopped = m.create(ContainerManager.newId(), fx.request(fx.config("stopped").command("sleep", "1000").build()));
        m.start(stopped.id());
        m.stop(stopped.id(), 0);
        assertEquals(stopped.id(), exits.poll(30, java.util.concurrent.TimeUnit.SECONDS).id());
        m.status(c.id());
        m.status(stopped.id());
        assertEquals(null, exits.poll(1, java.util.concurrent.TimeUnit.SECONDS), "an exit reported twice");
    }

    @Test
    void crunOnThisHybridCgroupHostFailsWithAClearError() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(
                !Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers")) && Files.isDirectory(Path.of("/sys/fs/cgroup/unified")),
                "only on hybrid cgroup hosts");
        BerthException e = assertThrows(BerthException.class, () -> m.create(ContainerManager.newId(), fx.request(
                fx.config("crun").command("true").build(), ImageConfig.empty(), "crun")));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind());
        assertTrue(e.getMessage().contains("crun") && e.getMessage().contains("hybrid"), e.getMessage());
        System.out.println("crun on a hybrid host: " + e.getMessage());
        assertEquals(List.of(), m.list());
        assertEquals(List.of(), fx.leftovers());
    }
}
