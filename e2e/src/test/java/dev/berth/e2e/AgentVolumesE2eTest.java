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
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.host.MountTable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A static pod's volumes and env in real containers under {@code berth agent}: an emptyDir on
 * disk and one in memory shared by two containers, hostPaths with their type checks (a wrong
 * type keeps the pod from starting, saying why), a downwardAPI volume, env from value, fieldRef
 * and resourceFieldRef, the agent's /etc/hosts and the termination-message file as a container
 * sees them; once the pod is removed, its volume directory and tmpfs mounts are gone.
 */
@Tag("root")
class AgentVolumesE2eTest {
    private static final String IMAGE = "offline/agent-volumes-e2e:1";
    private static final String NODE = "e2e-node";
    private static final String POD = "vol-" + NODE;
    private static final String BRIDGE = "berthvl0";
    private static final String SUBNET = "10.199.224.0/20";

    @TempDir
    Path dir;

    private static String manifest(Path hostDir) {
        return """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: vol
                  labels: {app: vol}
                spec:
                  terminationGracePeriodSeconds: 1
                  hostname: box
                  hostAliases: [{ip: 192.0.2.10, hostnames: [db]}]
                  containers:
                  - name: writer
                    image: %1$s
                    imagePullPolicy: Never
                    command: ["/bin/sh", "-c", "echo disk > /shared/from-writer; echo mem > /mem/from-writer; exec sleep 3600"]
                    resources: {limits: {memory: 64Mi}}
                    env:
                    - {name: GREETING, value: hi}
                    - name: POD_NAME
                      valueFrom: {fieldRef: {fieldPath: metadata.name}}
                    - name: MEM_MI
                      valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}
                    - {name: LINE, value: "$(GREETING) $(POD_NAME) $(MEM_MI)"}
                    volumeMounts:
                    - {name: shared, mountPath: /shared}
                    - {name: mem, mountPath: /mem}
                    - {name: host, mountPath: /host, readOnly: true}
                    - {name: made, mountPath: /made}
                    - {name: info, mountPath: /info}
                  - name: reader
                    image: %1$s
                    imagePullPolicy: Never
                    command: ["/bin/sleep", "3600"]
                    volumeMounts:
                    - {name: shared, mountPath: /data, readOnly: true}
                    - {name: mem, mountPath: /m}
                  volumes:
                  - {name: shared, emptyDir: {}}
                  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 8Mi}}
                  - {name: host, hostPath: {path: "%2$s", type: Directory}}
                  - {name: made, hostPath: {path: "%2$s/made", type: DirectoryOrCreate}}
                  - name: info
                    downwardAPI:
                      items:
                      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
                      - {path: name, fieldRef: {fieldPath: metadata.name}}
                """.formatted(IMAGE, hostDir);
    }

    @Test
    void volumesEnvHostsAndTheTerminationMessageAsAContainerSeesThem() throws Exception {
        Path berthDir = dir.resolve("berth");
        Path manifests = Files.createDirectories(dir.resolve("manifests"));
        Path hostDir = Files.createDirectories(dir.resolve("host"));
        Files.writeString(hostDir.resolve("hello"), "from the host\n");
        buildImage(berthDir.resolve("root"));
        Path config = Files.writeString(dir.resolve("agent.toml"), "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"" + SUBNET + "\"\n"
                + "[agent]\ncgroups_per_qos = false\npod_logs_dir = \"" + dir.resolve("logs") + "\"\nmanifest_rescan_interval = \"1s\"\n");
        try (BerthProcess agent = BerthProcess.startAgent(berthDir, "", "--config", config.toString(), "--metrics-address", "",
                "--node-name", NODE, "--pod-manifest-path", manifests.toString())) {
            Path agentState = agent.root().resolve("agent");

            // a hostPath of the wrong type keeps its pod from starting, and says why
            Path missing = dir.resolve("no-such-file");
            Files.writeString(manifests.resolve("bad.yaml"), """
                    apiVersion: v1
                    kind: Pod
                    metadata: {name: bad}
                    spec:
                      containers: [{name: c, image: %s, imagePullPolicy: Never, command: ["/bin/sleep", "3600"]}]
                      volumes: [{name: h, hostPath: {path: "%s", type: File}}]
                    """.formatted(IMAGE, missing));
            await("the type check's error", () -> agent.logText().contains("hostPath type check failed: " + missing + " is not a file")
                    ? true : null);
            assertEquals(0, sandboxes(agent, "bad-" + NODE).size(), "no sandbox for a pod whose volumes cannot be made");
            Files.delete(manifests.resolve("bad.yaml"));

            Files.writeString(manifests.resolve("vol.yaml"), manifest(hostDir));
            PodSandbox pod = await("the pod runs", () -> running(agent));
            String uid = pod.getMetadata().getUid();
            String writer = container(agent, pod.getId(), "writer").getId();
            String reader = container(agent, pod.getId(), "reader").getId();

            // few execs: each costs a runtime process round, slow on a busy machine
            String seen = await("the writer's files in both emptyDirs", () -> {
                String out = ok(exec(agent, reader, "sh", "-c",
                        "cat /data/from-writer /m/from-writer && if echo x 2>/dev/null > /data/nope; then echo writable; else echo read-only; fi"));
                return out.startsWith("disk\nmem\n") ? out : null;
            });
            assertEquals("disk\nmem\nread-only\n", seen, "shared on disk and in memory; a readOnly mount is read-only");
            Path memDir = agentState.resolve("pods/" + uid + "/volumes/kubernetes.io~empty-dir/mem");
            assertEquals("tmpfs", MountTable.containing(memDir).fsType());
            assertEquals(memDir, MountTable.containing(memDir).mountPoint());
            assertEquals("disk\n", Files.readString(agentState.resolve("pods/" + uid + "/volumes/kubernetes.io~empty-dir/shared/from-writer")));

            String[] parts = ok(exec(agent, writer, "sh", "-c", "cat /host/hello; echo ---; cat /info/labels; echo; echo ---; "
                    + "cat /info/name; echo; echo ---; env; echo ---; cat /etc/hosts; echo bye > /dev/termination-log")).split("---\n");
            assertEquals("from the host\n", parts[0]);
            assertTrue(Files.isDirectory(hostDir.resolve("made")), "DirectoryOrCreate made the directory");
            assertEquals("app=\"vol\"\n", parts[1]);
            assertEquals(POD + "\n", parts[2]);
            assertTrue(parts[3].contains("LINE=hi " + POD + " 64\n"), "env of value, fieldRef, resourceFieldRef: " + parts[3]);

            String ip = agent.runtime().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod.getId()).build())
                    .getStatus().getNetwork().getIp();
            String hosts = parts[4];
            assertTrue(hosts.startsWith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"), hosts);
            assertTrue(hosts.contains("\n" + ip + "\tbox\n"), hosts);
            assertTrue(hosts.contains("\n192.0.2.10\tdb\n"), hosts);
            assertEquals("bye\n", Files.readString(agentState.resolve("pods/" + uid + "/containers/writer/0")),
                    "the termination-message file is the container's");

            Files.delete(manifests.resolve("vol.yaml"));
            await("the pod and its volumes are gone", () -> sandboxes(agent, POD).isEmpty()
                    && !Files.exists(agentState.resolve("pods/" + uid)) ? true : null);
            assertEquals(0, MountTable.mountCountUnder(agentState), "no tmpfs left: " + MountTable.mountPointsUnder(agentState));
            assertFalse(Files.exists(memDir));
        } finally {
            cleanUp(berthDir, manifests);
        }
    }

    /** Whatever a failed run left: a daemon on the same directories removes the pods; the agent's mounts and the bridge go. */
    private static void cleanUp(Path berthDir, Path manifests) throws Exception {
        AgentTests.emptyDirectory(manifests);
        AgentTests.removeLeftoverPods(berthDir, berthDir.getParent().resolve("agent.toml"));
        dev.berth.host.LinuxMounts.INSTANCE.unmountAllUnder(berthDir);
        AgentTests.deleteBridge(BRIDGE);
    }

    private static List<PodSandbox> sandboxes(BerthProcess agent, String name) {
        return agent.runtime().listPodSandbox(ListPodSandboxRequest.newBuilder()
                .setFilter(PodSandboxFilter.newBuilder().putLabelSelector("io.kubernetes.pod.name", name)).build()).getItemsList();
    }

    private static PodSandbox running(BerthProcess agent) {
        for (PodSandbox s : sandboxes(agent, POD)) {
            if (s.getState() == PodSandboxState.SANDBOX_READY) {
                Container w = container(agent, s.getId(), "writer");
                Container r = container(agent, s.getId(), "reader");
                if (w != null && r != null && w.getState() == ContainerState.CONTAINER_RUNNING
                        && r.getState() == ContainerState.CONTAINER_RUNNING) {
                    return s;
                }
            }
        }
        return null;
    }

    private static Container container(BerthProcess agent, String sandboxId, String name) {
        return agent.runtime().listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setPodSandboxId(sandboxId).putLabelSelector("io.kubernetes.container.name", name)).build())
                .getContainersList().stream().findFirst().orElse(null);
    }

    private static <T> T await(String what, Callable<T> probe) throws Exception {
        return AgentTests.await(what, Duration.ofSeconds(60), probe);
    }

    /** A busybox image in the store under {@code root}, so the pod needs no registry. */
    private void buildImage(Path root) throws IOException, InterruptedException {
        AgentTests.busyboxImage(dir, root, IMAGE);
    }
}
