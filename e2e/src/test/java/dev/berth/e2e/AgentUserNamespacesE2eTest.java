package dev.berth.e2e;

import static dev.berth.e2e.AgentTests.exec;
import static dev.berth.e2e.AgentTests.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxFilter;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.host.MountTable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A static pod with {@code hostUsers: false} under {@code berth agent} on berth's runtime: the
 * agent gives it a 65536-id range of its own (recorded in the pod's directory), the pod's root is
 * that range's first host id, and its volumes (an emptyDir, a hostPath, /etc/hosts and the
 * termination-message file, all made by the host's root) are idmapped so they are root's inside;
 * what the pod writes lands on the host as the mapped id. Once the pod is gone, its range is free.
 */
@Tag("root")
class AgentUserNamespacesE2eTest {
    private static final String IMAGE = "offline/agent-userns-e2e:1";
    private static final String NODE = "e2e-node";
    private static final String POD = "userns-" + NODE;
    private static final String BRIDGE = "berthau0";
    private static final String SUBNET = "10.197.80.0/20";

    @TempDir
    Path dir;

    @Test
    void aPodWithoutTheHostsUsersRunsInItsOwnRangeAndSeesItsVolumesAsItsRoots() throws Exception {
        // a user-namespaced pod's root must traverse to its root filesystem under berth's run root,
        // as under /run; JUnit's directory is 0700
        Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
        Path berthDir = dir.resolve("berth");
        Path manifests = Files.createDirectories(dir.resolve("manifests"));
        Path hostDir = Files.createDirectories(dir.resolve("host"));
        Files.writeString(hostDir.resolve("hello"), "from the host\n");
        AgentTests.busyboxImage(dir, berthDir.resolve("root"), IMAGE);
        Files.setPosixFilePermissions(berthDir, java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
        Path config = Files.writeString(dir.resolve("agent.toml"), "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"" + SUBNET + "\"\n"
                + "[agent]\ncgroups_per_qos = false\npod_logs_dir = \"" + dir.resolve("logs") + "\"\nmanifest_rescan_interval = \"1s\"\n");
        try (BerthProcess agent = BerthProcess.startAgent(berthDir, "", "--config", config.toString(), "--metrics-address", "",
                "--node-name", NODE, "--pod-manifest-path", manifests.toString())) {
            Path agentState = agent.root().resolve("agent");
            Files.writeString(manifests.resolve("userns.yaml"), """
                    apiVersion: v1
                    kind: Pod
                    metadata: {name: userns}
                    spec:
                      hostUsers: false
                      terminationGracePeriodSeconds: 1
                      containers:
                      - name: app
                        image: %s
                        imagePullPolicy: Never
                        command: ["/bin/sh", "-c", "echo made > /scratch/by-pod; exec sleep 3600"]
                        volumeMounts:
                        - {name: scratch, mountPath: /scratch}
                        - {name: host, mountPath: /host, readOnly: true}
                      volumes:
                      - {name: scratch, emptyDir: {}}
                      - {name: host, hostPath: {path: "%s", type: Directory}}
                    """.formatted(IMAGE, hostDir));
            PodSandbox pod;
            try {
                pod = AgentTests.await("the pod runs", Duration.ofSeconds(90), () -> running(agent));
            } catch (AssertionError e) {
                String log = agent.logText();
                throw new AssertionError(e.getMessage() + "; the agent's log ends:\n" + log.substring(Math.max(0, log.length() - 6000)), e);
            }
            String uid = pod.getMetadata().getUid();
            String app = container(agent, pod.getId()).getId();

            String recorded = Files.readString(agentState.resolve("pods/" + uid + "/userns"));
            assertTrue(recorded.contains("\"hostId\":65536,\"containerId\":0,\"length\":65536"), recorded);

            String[] seen = ok(exec(agent, app, "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; echo ---; id -u; echo ---; "
                    + "stat -c '%u:%g %n' /scratch /scratch/by-pod /host/hello /etc/hosts /dev/termination-log; echo ---; "
                    + "cat /host/hello")).split("---\n");
            assertEquals(List.of("0 65536 65536", "0 65536 65536"), seen[0].lines().map(l -> l.trim().replaceAll("\\s+", " ")).toList());
            assertEquals("0\n", seen[1], "root inside the pod");
            assertEquals(List.of("0:0 /scratch", "0:0 /scratch/by-pod", "0:0 /host/hello", "0:0 /etc/hosts", "0:0 /dev/termination-log"),
                    seen[2].lines().toList(), "what the host's root made is the pod's root's, through idmapped mounts");
            assertEquals("from the host\n", seen[3]);

            Path made = agentState.resolve("pods/" + uid + "/volumes/kubernetes.io~empty-dir/scratch/by-pod");
            assertEquals(0, (int) Files.getAttribute(made, "unix:uid"), "through the idmapped mount the pod's root writes as the host's root");
            long hostUid = Long.parseLong(Files.readAllLines(Path.of("/proc/" + pid(agent, app) + "/status")).stream()
                    .filter(l -> l.startsWith("Uid:")).findFirst().orElseThrow().split("\\s+")[1]);
            assertEquals(65536, hostUid, "the pod's root is the first id of its range on the host, not root");

            Files.delete(manifests.resolve("userns.yaml"));
            AgentTests.await("the pod and its directory are gone", Duration.ofSeconds(60), () -> sandboxes(agent).isEmpty()
                    && !Files.exists(agentState.resolve("pods/" + uid)) ? true : null);
            assertEquals(0, MountTable.mountCountUnder(agent.root()), "nothing left mounted: " + MountTable.mountPointsUnder(agent.root()));
            assertFalse(Files.exists(agentState.resolve("pods/" + uid + "/userns")));
        } finally {
            AgentTests.emptyDirectory(manifests);
            AgentTests.removeLeftoverPods(berthDir, config);
            dev.berth.host.LinuxMounts.INSTANCE.unmountAllUnder(berthDir);
            AgentTests.deleteBridge(BRIDGE);
        }
    }

    private static long pid(BerthProcess agent, String containerId) {
        String info = agent.runtime().containerStatus(dev.berth.cri.v1.ContainerStatusRequest.newBuilder().setContainerId(containerId)
                .setVerbose(true).build()).getInfoOrThrow("info");
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"pid\"\\s*:\\s*(\\d+)").matcher(info);
        assertTrue(m.find(), info);
        return Long.parseLong(m.group(1));
    }

    private static List<PodSandbox> sandboxes(BerthProcess agent) {
        return agent.runtime().listPodSandbox(ListPodSandboxRequest.newBuilder()
                .setFilter(PodSandboxFilter.newBuilder().putLabelSelector("io.kubernetes.pod.name", POD)).build()).getItemsList();
    }

    private static PodSandbox running(BerthProcess agent) {
        for (PodSandbox s : sandboxes(agent)) {
            Container c = s.getState() == PodSandboxState.SANDBOX_READY ? container(agent, s.getId()) : null;
            if (c != null && c.getState() == ContainerState.CONTAINER_RUNNING) {
                return s;
            }
        }
        return null;
    }

    private static Container container(BerthProcess agent, String sandboxId) {
        return agent.runtime().listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setPodSandboxId(sandboxId).putLabelSelector("io.kubernetes.container.name", "app")).build())
                .getContainersList().stream().findFirst().orElse(null);
    }
}
