package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStateValue;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ContainerStatusResponse;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.LinuxContainerConfig;
import dev.berth.cri.v1.LinuxContainerSecurityContext;
import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxSandboxSecurityContext;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.Mount;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.cri.v1.StreamContainersRequest;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Containers through the real daemon: a busybox image imported with the CLI, a pod on the
 * test's default network, containers run by conmon and runc on overlayfs.
 */
@Tag("root")
class ContainerE2eTest {
    static final String IMAGE = "docker.io/e2e/busybox:1";

    @TempDir
    Path dir;

    BerthProcess berth;

    @AfterEach
    void cleanUp() throws Exception {
        if (berth == null) {
            return;
        }
        try {
            if (berth.process().isAlive()) {
                for (Container c : berth.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
                    berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c.getId()).build());
                }
                for (PodSandbox p : berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                    berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                }
            }
        } finally {
            berth.close();
            // a safety net for a failed test: no container process, bridge or mount may stay
            for (long pid : processesMentioning(dir.toString())) {
                new ProcessBuilder("kill", "-KILL", Long.toString(pid)).start().waitFor();
            }
            if (Files.exists(Path.of("/sys/class/net/berthe2e0"))) {
                new ProcessBuilder("ip", "link", "delete", "berthe2e0").start().waitFor();
            }
            List<String> left = PodSandboxE2eTest.mountsUnder(dir);
            for (int i = left.size() - 1; i >= 0; i--) {
                new ProcessBuilder("umount", "--lazy", left.get(i)).start().waitFor();
            }
        }
    }

    @Test
    void containersRunLogExecStayIsolatedSurviveARestartAndLeaveNothingWhenRemoved() throws Exception {
        berth = BerthProcess.start(dir.resolve("berth"));
        String imageId = importBusybox();
        Path logs = dir.resolve("logs");
        String pod = berth.runtime().runPodSandbox(pod("web", logs)).getPodSandboxId();

        String c1 = create(pod, "one", "one/0.log");
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(c1).build());
        ContainerStatusResponse s1 = status(c1);
        ContainerStatus st = s1.getStatus();
        assertEquals(ContainerState.CONTAINER_RUNNING, st.getState());
        assertEquals(imageId, st.getImageId());
        assertEquals(IMAGE, st.getImage().getImage());
        assertEquals(logs.resolve("one/0.log").toString(), st.getLogPath());
        assertTrue(st.getCreatedAt() > 0 && st.getStartedAt() >= st.getCreatedAt());
        assertEquals(0, st.getUser().getLinux().getUid());
        assertEquals("e2e", st.getLabelsOrThrow("suite"));
        JsonNode info = new ObjectMapper().readTree(s1.getInfoOrThrow("info"));
        long pid = info.path("pid").asLong();
        assertTrue(PodSandboxE2eTest.isRunning(pid), "the container's process runs");
        assertEquals("sh", info.path("runtimeSpec").path("process").path("args").get(0).asText());

        // the CRI log line of the first output line
        Path log = logs.resolve("one/0.log");
        String logText = awaitContent(log, " stdout F hello");
        assertTrue(logText.lines().anyMatch(l -> l.matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d+.* stdout F hello")), logText);

        // ExecSync: output and exit codes; the container's hostname is the pod's
        ExecSyncResponse hn = exec(c1, "hostname");
        assertEquals(0, hn.getExitCode());
        assertEquals("web", hn.getStdout().toStringUtf8().strip());
        assertEquals("hi there\n", exec(c1, "echo", "hi there").getStdout().toStringUtf8());
        assertEquals(3, exec(c1, "sh", "-c", "echo oops >&2; exit 3").getExitCode());
        assertEquals("oops\n", exec(c1, "sh", "-c", "echo oops >&2; exit 3").getStderr().toStringUtf8());

        // a second container of the same image does not see what the first wrote
        assertEquals(0, exec(c1, "sh", "-c", "echo secret > /marker").getExitCode());
        String c2 = create(pod, "two", "two/0.log");
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(c2).build());
        assertEquals("secret\n", exec(c1, "cat", "/marker").getStdout().toStringUtf8());
        assertNotEquals(0, exec(c2, "cat", "/marker").getExitCode());

        // lists and filters
        assertEquals(List.of(c1, c2), ids(ListContainersRequest.getDefaultInstance()));
        assertEquals(List.of(c2), ids(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .putLabelSelector("name", "two")).build()));
        assertEquals(List.of(c1), ids(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setId(c1.substring(0, 12))).build()));
        assertEquals(List.of(c1, c2), ids(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setPodSandboxId(pod).setState(ContainerStateValue.newBuilder().setState(ContainerState.CONTAINER_RUNNING))).build()));
        assertEquals(List.of(), ids(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setState(ContainerStateValue.newBuilder().setState(ContainerState.CONTAINER_EXITED))).build()));
        List<String> streamed = new ArrayList<>();
        berth.runtime().streamContainers(StreamContainersRequest.getDefaultInstance())
                .forEachRemaining(r -> r.getContainersList().forEach(c -> streamed.add(c.getId())));
        assertEquals(List.of(c1, c2), streamed);

        // stop: SIGTERM ends the shell; stop again is fine
        stop(c2, 10);
        ContainerStatus stopped = status(c2).getStatus();
        assertEquals(ContainerState.CONTAINER_EXITED, stopped.getState());
        assertEquals(143, stopped.getExitCode());
        assertEquals("Error", stopped.getReason());
        assertTrue(stopped.getFinishedAt() >= stopped.getStartedAt());
        stop(c2, 10);

        // remove: no overlay mount, no writable layer, no conmon left
        Path rootfs2 = berth.runRoot().resolve("rootfs").resolve(c2);
        assertTrue(Files.exists(berth.root().resolve("container-layers").resolve(c2).resolve("upper")));
        berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c2).build());
        berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c2).build());
        berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId("0123456789abcdef").build());
        assertEquals(List.of(), PodSandboxE2eTest.mountsUnder(rootfs2), "the overlay of a removed container is unmounted");
        assertFalse(Files.exists(rootfs2));
        assertFalse(Files.exists(berth.root().resolve("container-layers").resolve(c2)), "its writable layer is deleted");
        assertEquals(List.of(), processesMentioning(c2), "no conmon or process of a removed container");
        assertEquals(Status.Code.NOT_FOUND, assertThrows(StatusRuntimeException.class, () -> status(c2)).getStatus().getCode());

        // SIGKILL of berth: the containers keep running, with the same pids, and exits are reported,
        // also one that happened while berth was down
        List<String> more = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            String c = create(pod, "more" + i, "more" + i + "/0.log");
            berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(c).build());
            more.add(c);
        }
        long diesPid = new ObjectMapper().readTree(status(more.get(0)).getInfoOrThrow("info")).path("pid").asLong();
        berth.kill();
        new ProcessBuilder("kill", "-KILL", Long.toString(diesPid)).start().waitFor();
        // what a crash in the middle of CreateContainer leaves: a writable layer and a mounted overlay, no record
        String stray = "e".repeat(64);
        Path strayLayer = Files.createDirectories(berth.root().resolve("container-layers").resolve(stray));
        Files.createDirectories(strayLayer.resolve("upper"));
        Files.createDirectories(strayLayer.resolve("work"));
        Path strayLower = Files.createDirectories(dir.resolve("stray-lower"));
        Path strayRoot = Files.createDirectories(berth.runRoot().resolve("rootfs").resolve(stray));
        assertEquals(0, new ProcessBuilder("mount", "-t", "overlay", "-o", "lowerdir=" + strayLower + ",upperdir="
                + strayLayer.resolve("upper") + ",workdir=" + strayLayer.resolve("work"), "overlay", strayRoot.toString())
                .inheritIO().start().waitFor());
        berth.restart();
        assertEquals(List.of(), PodSandboxE2eTest.mountsUnder(strayRoot), "the leftover overlay is unmounted at start-up");
        assertFalse(Files.exists(strayLayer), "and its layer deleted");
        assertFalse(Files.exists(strayRoot));
        ContainerStatus died = status(more.get(0)).getStatus();
        assertEquals(ContainerState.CONTAINER_EXITED, died.getState(), "it died while berth was down");
        assertEquals(137, died.getExitCode());
        assertEquals("Error", died.getReason());
        for (String c : more.subList(1, more.size())) {
            assertEquals(ContainerState.CONTAINER_RUNNING, status(c).getStatus().getState());
        }
        ContainerStatusResponse again = status(c1);
        assertEquals(ContainerState.CONTAINER_RUNNING, again.getStatus().getState());
        assertEquals(pid, new ObjectMapper().readTree(again.getInfoOrThrow("info")).path("pid").asLong());
        assertEquals("secret\n", exec(c1, "cat", "/marker").getStdout().toStringUtf8());
        stop(c1, 10);
        assertEquals(ContainerState.CONTAINER_EXITED, status(c1).getStatus().getState());
        assertEquals(143, status(c1).getStatus().getExitCode());

        // RemovePodSandbox removes the containers it still has, running or not
        String c3 = create(pod, "three", "three/0.log");
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(c3).build());
        berth.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        assertEquals(ContainerState.CONTAINER_EXITED, status(c3).getStatus().getState());
        berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        assertEquals(0, berth.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
        assertEquals(List.of(), PodSandboxE2eTest.mountsUnder(berth.runRoot()), "nothing mounted under the run root");
        assertEquals(List.of(), layerDirs(), "no writable layer left");
        assertEquals(List.of(), processesMentioning(c1));
        assertEquals(List.of(), processesMentioning(c3));
    }

    @Test
    void badRequestsAreRejectedWithTheRightCodeAndLeaveNothingBehind() throws Exception {
        berth = BerthProcess.start(dir.resolve("berth"));
        importBusybox();
        Path logs = dir.resolve("logs");
        String pod = berth.runtime().runPodSandbox(pod("bad", logs)).getPodSandboxId();

        StatusRuntimeException noImage = assertThrows(StatusRuntimeException.class, () -> berth.runtime().createContainer(
                request(pod, "x", "x/0.log").toBuilder().setConfig(request(pod, "x", "x/0.log").getConfig().toBuilder()
                        .setImage(ImageSpec.newBuilder().setImage("docker.io/e2e/none:1"))).build()));
        assertEquals(Status.Code.NOT_FOUND, noImage.getStatus().getCode());
        assertNothingLeft();

        StatusRuntimeException noSource = assertThrows(StatusRuntimeException.class, () -> berth.runtime().createContainer(
                request(pod, "x", "x/0.log").toBuilder().setConfig(request(pod, "x", "x/0.log").getConfig().toBuilder()
                        .addMounts(Mount.newBuilder().setContainerPath("/data").setHostPath(dir.resolve("missing").toString()))).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, noSource.getStatus().getCode());
        assertTrue(noSource.getStatus().getDescription().contains("missing"), noSource.getStatus().getDescription());
        assertNothingLeft();

        StatusRuntimeException noSandbox = assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().createContainer(request("f".repeat(64), "x", "x/0.log")));
        assertEquals(Status.Code.NOT_FOUND, noSandbox.getStatus().getCode());

        String first = create(pod, "twin", "twin/0.log");
        StatusRuntimeException twin = assertThrows(StatusRuntimeException.class, () -> create(pod, "twin", "twin/1.log"));
        assertEquals(Status.Code.ALREADY_EXISTS, twin.getStatus().getCode());
        assertTrue(twin.getStatus().getDescription().contains(first), twin.getStatus().getDescription());
        assertEquals(List.of(first), ids(ListContainersRequest.getDefaultInstance()));
        assertEquals(1, layerDirs().size(), "only the first container's layer");
        berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(first).build());
        assertNothingLeft();

        berth.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        StatusRuntimeException notReady = assertThrows(StatusRuntimeException.class, () -> create(pod, "late", "late/0.log"));
        assertEquals(Status.Code.FAILED_PRECONDITION, notReady.getStatus().getCode());
        assertNothingLeft();

        assertEquals(Status.Code.NOT_FOUND, assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId("f".repeat(64)).build()))
                .getStatus().getCode());
        assertEquals(Status.Code.INVALID_ARGUMENT, assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().removeContainer(RemoveContainerRequest.getDefaultInstance())).getStatus().getCode());
    }

    @Test
    void userEnvReadonlyRootfsPodPidsExecTimeoutResourceUpdatesAndLogReopening() throws Exception {
        berth = BerthProcess.start(dir.resolve("berth"));
        importBusybox();
        Path logs = dir.resolve("logs");
        String pod = berth.runtime().runPodSandbox(pod("opts", logs)).getPodSandboxId();
        CreateContainerRequest base = request(pod, "ticker", "ticker/0.log");
        CreateContainerRequest ticker = base.toBuilder().setConfig(base.getConfig().toBuilder()
                .clearArgs().addArgs("-c").addArgs("echo first; n=0; while true; do if [ -e /dev/shm/tick$n ]; then echo tick$n; n=$((n+1)); fi; sleep 0.1; done")
                .setWorkingDir("/tmp")
                .addEnvs(dev.berth.cri.v1.KeyValue.newBuilder().setKey("FOO").setValue(com.google.protobuf.ByteString.copyFromUtf8("bar baz")))
                .setLinux(base.getConfig().getLinux().toBuilder()
                        .setResources(dev.berth.cri.v1.LinuxContainerResources.newBuilder().setCpuShares(256))
                        .setSecurityContext(base.getConfig().getLinux().getSecurityContext().toBuilder()
                                .setRunAsUser(dev.berth.cri.v1.Int64Value.newBuilder().setValue(65534)))))
                .build();
        String id = berth.runtime().createContainer(ticker).getContainerId();
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());

        ExecSyncResponse who = exec(id, "sh", "-c", "echo \"$FOO\"; id -u; pwd");
        assertEquals("bar baz\n65534\n/tmp\n", who.getStdout().toStringUtf8(), who.getStderr().toStringUtf8());
        assertEquals(65534, status(id).getStatus().getUser().getLinux().getUid());

        // the pod's PID namespace: its infra process is PID 1 and no host process is visible
        String procs = exec(id, "sh", "-c", "echo /proc/[0-9]*").getStdout().toStringUtf8().strip();
        List<String> pids = List.of(procs.split(" "));
        assertTrue(pids.contains("/proc/1"), procs);
        assertTrue(pids.size() <= 6, "only the pod's processes: " + procs);

        // an ExecSync past its timeout is DEADLINE_EXCEEDED and its process is gone
        StatusRuntimeException late = assertThrows(StatusRuntimeException.class, () -> berth.runtime().execSync(
                ExecSyncRequest.newBuilder().setContainerId(id).addCmd("sleep").addCmd("7777").setTimeout(1).build()));
        assertEquals(Status.Code.DEADLINE_EXCEEDED, late.getStatus().getCode());
        assertEquals(List.of(), processesMentioning("sleep 7777"), "the timed-out exec process is killed");

        // UpdateContainerResources: live in the cgroup and in the status
        assertEquals(256, status(id).getStatus().getResources().getLinux().getCpuShares());
        berth.runtime().updateContainerResources(dev.berth.cri.v1.UpdateContainerResourcesRequest.newBuilder().setContainerId(id)
                .setLinux(dev.berth.cri.v1.LinuxContainerResources.newBuilder().setCpuShares(768)).build());
        assertEquals(768, status(id).getStatus().getResources().getLinux().getCpuShares());
        long pid = new ObjectMapper().readTree(status(id).getInfoOrThrow("info")).path("pid").asLong();
        assertEquals("768", Files.readString(cpuCgroupDir(pid).resolve("cpu.shares")).strip());

        // ReopenContainerLog: after a rotation the output goes on in a new file, nothing lost
        Path log = logs.resolve("ticker/0.log");
        assertTrue(awaitContent(log, " stdout F first").contains(" stdout F first"));
        assertEquals(0, exec(id, "sh", "-c", ": > /dev/shm/tick0").getExitCode());
        assertTrue(awaitContent(log, " stdout F tick0").contains("tick0"));
        Files.move(log, logs.resolve("ticker/0.log.1"));
        berth.runtime().reopenContainerLog(dev.berth.cri.v1.ReopenContainerLogRequest.newBuilder().setContainerId(id).build());
        assertEquals(0, exec(id, "sh", "-c", ": > /dev/shm/tick1").getExitCode());
        assertTrue(awaitContent(log, " stdout F tick1").contains(" stdout F tick1"), "the new file gets the new lines");
        assertFalse(Files.readString(logs.resolve("ticker/0.log.1")).contains("tick1"));

        // a read-only root filesystem refuses writes
        CreateContainerRequest ro = request(pod, "ro", "ro/0.log");
        String roId = berth.runtime().createContainer(ro.toBuilder().setConfig(ro.getConfig().toBuilder()
                .setLinux(ro.getConfig().getLinux().toBuilder().setSecurityContext(ro.getConfig().getLinux().getSecurityContext()
                        .toBuilder().setReadonlyRootfs(true)))).build()).getContainerId();
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(roId).build());
        ExecSyncResponse refused = exec(roId, "sh", "-c", "echo x > /written");
        assertNotEquals(0, refused.getExitCode());
        assertTrue(refused.getStderr().toStringUtf8().contains("Read-only"), refused.getStderr().toStringUtf8());
    }

    @Test
    void aContainerAllocatingPastItsMemoryLimitEndsOomKilledAndLeavesNothing() throws Exception {
        berth = BerthProcess.start(dir.resolve("berth"));
        importBusybox();
        Path logs = dir.resolve("logs");
        String pod = berth.runtime().runPodSandbox(pod("oom", logs)).getPodSandboxId();
        long limit = 32L << 20;
        // the shell doubles a string until the kernel's OOM killer ends it at the cgroup's limit
        CreateContainerRequest base = request(pod, "hog", "hog/0.log");
        String hog = berth.runtime().createContainer(base.toBuilder().setConfig(base.getConfig().toBuilder()
                .clearArgs().addArgs("-c").addArgs("echo filling; x=0123456789abcdef; while true; do x=$x$x; done")
                .setLinux(base.getConfig().getLinux().toBuilder()
                        .setResources(dev.berth.cri.v1.LinuxContainerResources.newBuilder().setMemoryLimitInBytes(limit))))
                .build()).getContainerId();
        // a sibling in the same pod that ends on its own, with the same limit and no OOM
        CreateContainerRequest quiet = request(pod, "quiet", "quiet/0.log");
        String done = berth.runtime().createContainer(quiet.toBuilder().setConfig(quiet.getConfig().toBuilder()
                .clearArgs().addArgs("-c").addArgs("echo done")
                .setLinux(quiet.getConfig().getLinux().toBuilder()
                        .setResources(dev.berth.cri.v1.LinuxContainerResources.newBuilder().setMemoryLimitInBytes(limit))))
                .build()).getContainerId();
        JsonNode spec = new ObjectMapper().readTree(status(hog).getInfoOrThrow("info")).path("runtimeSpec");
        assertEquals(limit, spec.path("linux").path("resources").path("memory").path("limit").asLong(), spec.toString());
        Path memoryCgroup = Path.of("/sys/fs/cgroup/memory" + spec.path("linux").path("cgroupsPath").asText());

        // conmon leaves a marker file on an OOM: never in the daemon's working directory
        Path cwdMarker = Path.of("/proc/" + berth.pid() + "/cwd").toRealPath().resolve("oom");
        java.nio.file.attribute.FileTime before = Files.exists(cwdMarker) ? Files.getLastModifiedTime(cwdMarker) : null;
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(hog).build());
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(done).build());
        assertEquals(Long.toString(limit), Files.readString(memoryCgroup.resolve("memory.limit_in_bytes")).strip(),
                "the limit is on the container's v1 memory cgroup " + memoryCgroup);
        ContainerStatus killed = awaitExited(hog);
        assertEquals("OOMKilled", killed.getReason(), killed.toString());
        assertEquals(137, killed.getExitCode(), killed.toString());
        assertTrue(killed.getFinishedAt() >= killed.getStartedAt() && killed.getStartedAt() > 0, killed.toString());
        assertTrue(awaitContent(logs.resolve("hog/0.log"), " stdout F filling").contains("filling"));
        // ListContainers agrees, and a later status reads the same
        assertEquals(List.of(hog, done).stream().sorted().toList(), ids(ListContainersRequest.newBuilder().setFilter(
                ContainerFilter.newBuilder().setState(ContainerStateValue.newBuilder().setState(ContainerState.CONTAINER_EXITED))
        ).build()).stream().sorted().toList());
        assertEquals(killed, status(hog).getStatus());

        ContainerStatus completed = awaitExited(done);
        assertEquals("Completed", completed.getReason(), completed.toString());
        assertEquals(0, completed.getExitCode());

        for (String id : List.of(hog, done)) {
            berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
        }
        assertFalse(Files.exists(memoryCgroup), "the container's memory cgroup is removed: " + memoryCgroup);
        assertEquals(before, Files.exists(cwdMarker) ? Files.getLastModifiedTime(cwdMarker) : null,
                "a file left in the daemon's working directory: " + cwdMarker);
        assertNothingLeft();
        assertEquals(List.of(), processesMentioning(hog));
        berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        assertEquals(List.of(), PodSandboxE2eTest.mountsUnder(berth.runRoot()), "nothing mounted under the run root");
    }

    /** Polls ContainerStatus until the container is EXITED; gives up after a minute. */
    ContainerStatus awaitExited(String id) throws InterruptedException {
        long deadline = System.nanoTime() + 60_000_000_000L;
        ContainerStatus s = status(id).getStatus();
        while (s.getState() != ContainerState.CONTAINER_EXITED && System.nanoTime() < deadline) {
            Thread.sleep(20);
            s = status(id).getStatus();
        }
        assertEquals(ContainerState.CONTAINER_EXITED, s.getState(), "container " + id + " did not exit: " + s);
        return s;
    }

    /** The container's cgroup directory in the v1 cpu hierarchy (this host's cgroups are hybrid), or v2 where cpu is there. */
    static Path cpuCgroupDir(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/cgroup"))) {
            String[] f = line.split(":", 3);
            if (List.of(f[1].split(",")).contains("cpu")) {
                Path root = Files.isDirectory(Path.of("/sys/fs/cgroup/cpu,cpuacct")) ? Path.of("/sys/fs/cgroup/cpu,cpuacct")
                        : Path.of("/sys/fs/cgroup/cpu");
                return Path.of(root + f[2]);
            }
        }
        throw new IllegalStateException("no cpu cgroup for " + pid);
    }

    /**
     * Not a test of correctness: prints CreateContainer and StartContainer latency through the
     * daemon (one pod, containers created, started and removed one after another). Run with
     * -Dberth.benchmark=true; -Dberth.benchmark.runs sets the number of containers (default 50).
     */
    @Test
    void benchmarkCreateAndStartContainer() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Boolean.getBoolean("berth.benchmark"), "benchmark: run with -Dberth.benchmark=true");
        int runs = Integer.getInteger("berth.benchmark.runs", 50);
        berth = BerthProcess.start(dir.resolve("berth"));
        importBusybox();
        String pod = berth.runtime().runPodSandbox(pod("bench", dir.resolve("logs"))).getPodSandboxId();
        for (int i = 0; i < 3; i++) { // warm-up: class loading and JIT of the daemon's paths
            String id = create(pod, "warm" + i, "warm" + i + "/0.log");
            berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
            berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
        }
        List<Double> create = new ArrayList<>();
        List<Double> start = new ArrayList<>();
        List<Double> both = new ArrayList<>();
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            String id = create(pod, "c" + i, "c" + i + "/0.log");
            long t1 = System.nanoTime();
            berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
            long t2 = System.nanoTime();
            create.add((t1 - t0) / 1e6);
            start.add((t2 - t1) / 1e6);
            both.add((t2 - t0) / 1e6);
            berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
        }
        System.out.printf("containers (runc, %d runs): CreateContainer p50 %.1f ms p95 %.1f ms; StartContainer p50 %.1f ms p95 %.1f ms;"
                        + " create+start p50 %.1f ms p95 %.1f ms%n", runs, pct(create, 50), pct(create, 95), pct(start, 50),
                pct(start, 95), pct(both, 50), pct(both, 95));
    }

    /**
     * Not a test of correctness: the daemon's memory per running container. Starts N containers
     * (default 50, -Dberth.benchmark.runs) in one pod and compares the daemon before and after:
     * VmRSS, the live heap after a full GC (the total of {@code jcmd GC.class_histogram}, which
     * collects first), threads; and the PSS and RSS of the containers' conmon processes. Also
     * prints create+start latency while the running containers accumulate. Run with
     * -Dberth.benchmark=true.
     */
    @Test
    void benchmarkMemoryPerRunningContainer() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Boolean.getBoolean("berth.benchmark"), "benchmark: run with -Dberth.benchmark=true");
        int runs = Integer.getInteger("berth.benchmark.runs", 50);
        berth = BerthProcess.start(dir.resolve("berth"));
        importBusybox();
        String pod = berth.runtime().runPodSandbox(pod("mem", dir.resolve("logs"))).getPodSandboxId();
        for (int i = 0; i < 3; i++) { // warm-up: class loading and JIT of the daemon's paths
            String id = create(pod, "warm" + i, "warm" + i + "/0.log");
            berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
            exec(id, "true");
            status(id);
            berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
        }
        long heapBefore = liveHeapBytes(berth.pid());
        long rssBefore = statusKb(berth.pid(), "VmRSS:");
        long threadsBefore = statusKb(berth.pid(), "Threads:");
        List<Double> both = new ArrayList<>();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            String id = create(pod, "c" + i, "c" + i + "/0.log");
            berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
            both.add((System.nanoTime() - t0) / 1e6);
            ids.add(id);
        }
        // what a kubelet does meanwhile: status and list calls
        for (String id : ids) {
            assertEquals(ContainerState.CONTAINER_RUNNING, status(id).getStatus().getState());
        }
        berth.runtime().listContainers(ListContainersRequest.getDefaultInstance());
        long heapAfter = liveHeapBytes(berth.pid());
        long rssAfter = statusKb(berth.pid(), "VmRSS:");
        long threadsAfter = statusKb(berth.pid(), "Threads:");
        long conmonPss = 0;
        long conmonRss = 0;
        int conmons = 0;
        for (String id : ids) {
            for (long pid : processesMentioning(id)) {
                String cmd = Files.readString(Path.of("/proc/" + pid + "/cmdline"));
                if (cmd.startsWith("/usr/bin/conmon") || cmd.startsWith("conmon")) {
                    conmonPss += smapsKb(pid, "Pss:");
                    conmonRss += smapsKb(pid, "Rss:");
                    conmons++;
                }
            }
        }
        assertEquals(runs, conmons, "one conmon per running container");
        System.out.printf("containers (runc, %d running): create+start p50 %.1f ms p95 %.1f ms while they accumulate%n",
                runs, pct(both, 50), pct(both, 95));
        System.out.printf("daemon per running container: RSS %+.1f kB (%d -> %d kB), live heap after full GC %+.1f kB"
                        + " (%d -> %d kB), threads %d -> %d; conmon per container PSS %d kB, RSS %d kB%n",
                (rssAfter - rssBefore) / (double) runs, rssBefore, rssAfter, (heapAfter - heapBefore) / 1024.0 / runs,
                heapBefore / 1024, heapAfter / 1024, threadsBefore, threadsAfter, conmonPss / runs, conmonRss / runs);
        for (String id : ids) {
            berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
        }
    }

    /** The live heap of a JVM: the total of a class histogram, which runs a full GC first. */
    static long liveHeapBytes(long pid) throws Exception {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), "GC.class_histogram").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        String total = out.lines().filter(l -> l.startsWith("Total")).findFirst().orElseThrow(() -> new AssertionError(out));
        String[] f = total.trim().split("\\s+");
        return Long.parseLong(f[f.length - 1]);
    }

    static long statusKb(long pid, String key) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        throw new IllegalStateException(key + " not in /proc/" + pid + "/status");
    }

    static long smapsKb(long pid, String key) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/smaps_rollup"))) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        return 0;
    }

    private static double pct(List<Double> values, int p) {
        List<Double> sorted = new ArrayList<>(values);
        java.util.Collections.sort(sorted);
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p / 100.0 * sorted.size()) - 1));
    }

    // ---------------------------------------------------------------- helpers

    /** Imports a busybox image with {@code berth image import} into the running daemon's store; returns its id. */
    String importBusybox() throws Exception {
        Path archive = dir.resolve("busybox.tar");
        TestLayer layer = TestLayer.busybox();
        for (String applet : List.of("echo", "sleep", "hostname", "cat", "id")) {
            layer.symlink("bin/" + applet, "busybox");
        }
        TestImage.of(layer.build(TestLayer.Compression.NONE)).writeDockerSave(archive, "e2e/busybox:1");
        Process p = new ProcessBuilder(BerthProcess.launcher().toString(), "image", "import", archive.toString(),
                "--root", berth.root().toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out.strip().split("\\s+")[0];
    }

    static RunPodSandboxRequest pod(String name, Path logs) {
        return RunPodSandboxRequest.newBuilder().setConfig(PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("e2e").setUid("uid-" + name))
                .setHostname(name)
                .setLogDirectory(logs.toString())
                .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.POD)))))
                .build();
    }

    static CreateContainerRequest request(String pod, String name, String logPath) {
        return CreateContainerRequest.newBuilder().setPodSandboxId(pod).setConfig(ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage(IMAGE))
                .addCommand("sh").addArgs("-c").addArgs("echo hello; sleep 1000")
                .setLogPath(logPath)
                .putLabels("suite", "e2e")
                .putLabels("name", name)
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.POD)))))
                .build();
    }

    String create(String pod, String name, String logPath) {
        return berth.runtime().createContainer(request(pod, name, logPath)).getContainerId();
    }

    ContainerStatusResponse status(String id) {
        return berth.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).setVerbose(true).build());
    }

    void stop(String id, long timeout) {
        berth.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(id).setTimeout(timeout).build());
    }

    ExecSyncResponse exec(String id, String... cmd) {
        return berth.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(List.of(cmd)).setTimeout(30).build());
    }

    List<String> ids(ListContainersRequest r) {
        return berth.runtime().listContainers(r).getContainersList().stream().map(Container::getId).toList();
    }

    List<String> layerDirs() throws IOException {
        Path d = berth.root().resolve("container-layers");
        if (!Files.isDirectory(d)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(d)) {
            return s.map(Path::toString).toList();
        }
    }

    void assertNothingLeft() throws IOException {
        assertEquals(0, berth.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
        assertEquals(List.of(), PodSandboxE2eTest.mountsUnder(berth.runRoot().resolve("rootfs")), "no root filesystem mounted");
        assertEquals(List.of(), layerDirs(), "no writable layer");
        assertEquals(List.of(), processesMentioning(berth.runRoot().resolve("containers").toString()), "no conmon");
    }

    /** Live processes whose command line mentions {@code text} (conmon names the container id and bundle). */
    static List<Long> processesMentioning(String text) throws IOException {
        List<Long> out = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String cmd = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8).replace('\0', ' ');
                    long pid = Long.parseLong(p.getFileName().toString());
                    if (cmd.contains(text) && pid != ProcessHandle.current().pid() && PodSandboxE2eTest.isRunning(pid)) {
                        out.add(pid);
                    }
                } catch (IOException e) {
                    // gone meanwhile
                }
            }
        }
        return out;
    }

    /** Waits until the file contains {@code text} (conmon writes the log asynchronously); gives up after a minute. */
    static String awaitContent(Path file, String text) throws Exception {
        long deadline = System.nanoTime() + 60_000_000_000L;
        String content = "";
        while (System.nanoTime() < deadline) {
            if (Files.exists(file)) {
                content = Files.readString(file);
                if (content.contains(text)) {
                    return content;
                }
            }
            Thread.sleep(20);
        }
        return content;
    }
}
