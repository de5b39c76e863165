package dev.berth.e2e;

import static dev.berth.e2e.AgentTests.exec;
import static dev.berth.e2e.AgentTests.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.testing.ApiServerFixture;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxFilter;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.VersionRequest;
import dev.berth.host.MountTable;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeAddress;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One {@code berth agent --kubeconfig} against the mock API server of this JVM, real containers
 * behind it, several pods at once: the Node registered with the machine's capacity and Ready
 * with the runtime's version, its Lease renewed; a bound pod Running in the API with its IPs,
 * conditions and container statuses matching the runtime; a pod of another node untouched; env
 * of every source and every volume kind (but serviceAccountToken: the CRUD mock has no
 * TokenRequest) as the container sees them, and a changed configMap seen in the running
 * container; ErrImageNeverPull; a failed container's terminated status with its termination
 * message; after SIGKILL and restart the pods adopted and their status not rewritten; a deleted
 * pod stopped, its object removed, nothing of it left on the machine.
 */
@Tag("root")
class AgentConnectedPodsE2eTest {
    private static final String IMAGE = "offline/agent-pods-e2e:1";
    private static final String NODE = "e2e-pods-node";
    private static final String NS = "apps";
    private static final String BRIDGE = "berthce0";
    private static final String SUBNET = "10.199.32.0/20";

    @TempDir
    Path dir;

    private static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    /** The pod with env of every source and every volume kind; its one container sleeps. */
    private static String appPod(Path hostDir) {
        return """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: app
                  namespace: apps
                  labels: {app: web}
                  annotations: {note: hello}
                spec:
                  nodeName: %1$s
                  terminationGracePeriodSeconds: 2
                  containers:
                  - name: app
                    image: %2$s
                    imagePullPolicy: Never
                    command: ["/bin/sleep", "3600"]
                    resources: {limits: {memory: 64Mi, cpu: 500m}}
                    env:
                    - {name: PLAIN, value: plain}
                    - name: POD_NAME
                      valueFrom: {fieldRef: {fieldPath: metadata.name}}
                    - name: POD_NS
                      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
                    - name: POD_IP
                      valueFrom: {fieldRef: {fieldPath: status.podIP}}
                    - name: NODE
                      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
                    - name: MEM_MI
                      valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}
                    - name: CPU_M
                      valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}
                    - name: FROM_CM
                      valueFrom: {configMapKeyRef: {name: settings, key: color}}
                    - name: FROM_SECRET
                      valueFrom: {secretKeyRef: {name: creds, key: password}}
                    - name: MISSING_OPTIONAL
                      valueFrom: {configMapKeyRef: {name: nowhere, key: x, optional: true}}
                    - {name: LINE, value: "$(PLAIN)-$(FROM_CM)-$(POD_NAME)"}
                    envFrom:
                    - configMapRef: {name: settings}
                      prefix: CM_
                    - secretRef: {name: creds}
                      prefix: SEC_
                    volumeMounts:
                    - {name: scratch, mountPath: /scratch}
                    - {name: mem, mountPath: /mem}
                    - {name: host, mountPath: /host, readOnly: true}
                    - {name: cm, mountPath: /cm}
                    - {name: sec, mountPath: /sec}
                    - {name: info, mountPath: /info}
                    - {name: all, mountPath: /all}
                  volumes:
                  - {name: scratch, emptyDir: {}}
                  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 8Mi}}
                  - {name: host, hostPath: {path: "%3$s", type: Directory}}
                  - {name: cm, configMap: {name: settings}}
                  - name: sec
                    secret:
                      secretName: creds
                      items: [{key: password, path: pw}]
                  - name: info
                    downwardAPI:
                      items:
                      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
                      - {path: mem, resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}}
                  - name: all
                    projected:
                      sources:
                      - configMap: {name: settings, items: [{key: color, path: color}]}
                      - secret: {name: creds, items: [{key: password, path: password}]}
                      - downwardAPI: {items: [{path: annotations, fieldRef: {fieldPath: metadata.annotations}}]}
                """.formatted(NODE, IMAGE, hostDir);
    }

    private static String simplePod(String name, String node, String image, String restartPolicy, String command) {
        return """
                apiVersion: v1
                kind: Pod
                metadata: {name: %s, namespace: apps}
                spec:
                  nodeName: %s
                  restartPolicy: %s
                  terminationGracePeriodSeconds: 1
                  containers:
                  - {name: main, image: "%s", imagePullPolicy: Never, command: ["/bin/sh", "-c", "%s"]}
                """.formatted(name, node, restartPolicy, image, command);
    }

    private Path config() throws IOException {
        return Files.writeString(dir.resolve("agent.toml"), "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"" + SUBNET + "\"\n"
                + "[agent]\ncgroups_per_qos = false\npod_logs_dir = \"" + dir.resolve("logs") + "\"\n");
    }

    @Test
    void nodeLeasePodStatusesEnvVolumesFailuresAdoptionAndDeletion() throws Exception {
        Path berthDir = dir.resolve("berth");
        Path config = config();
        Path hostDir = Files.createDirectories(dir.resolve("host"));
        Files.writeString(hostDir.resolve("hello"), "from the host\n");
        buildImage(berthDir.resolve("root"));
        try (ApiServerFixture api = new ApiServerFixture(); KubernetesClient client = api.client()) {
            Path kubeconfig = api.writeKubeconfig(dir.resolve("kubeconfig"));
            client.resource(new ConfigMapBuilder().withNewMetadata().withNamespace(NS).withName("settings").endMetadata()
                    .addToData("color", "blue").addToData("size", "L").build()).create();
            client.resource(new SecretBuilder().withNewMetadata().withNamespace(NS).withName("creds").endMetadata()
                    .addToData("password", b64("s3cret")).build()).create();
            Pod elsewhere = client.resource(Serialization.unmarshal(simplePod("elsewhere", "another-node", IMAGE, "Always", "sleep 3600"),
                    Pod.class)).create();
            String appUid = client.resource(Serialization.unmarshal(appPod(hostDir), Pod.class)).create().getMetadata().getUid();
            client.resource(Serialization.unmarshal(simplePod("never", NODE, "offline/not-here:1", "Always", "true"), Pod.class)).create();
            client.resource(Serialization.unmarshal(simplePod("fails", NODE, IMAGE, "Never",
                    "echo went wrong > /dev/termination-log; exit 3"), Pod.class)).create();
            try (BerthProcess agent = BerthProcess.startAgent(berthDir, "", "--config", config.toString(), "--metrics-address", "",
                    "--node-name", NODE, "--kubeconfig", kubeconfig.toString())) {
                Path agentState = agent.root().resolve("agent");

                // 1. the Node: capacity from the machine, Ready with the runtime's version; the Lease
                Node node = await("the node is Ready", () -> {
                    Node n = client.nodes().withName(NODE).get();
                    return n != null && n.getStatus() != null && "True".equals(condition(n.getStatus().getConditions(), "Ready")) ? n : null;
                });
                Map<String, Quantity> capacity = node.getStatus().getCapacity();
                assertAmount(onlineCpus(), capacity.get("cpu"), "cpu: the machine's online cpus");
                assertAmount(memTotalBytes(), capacity.get("memory"), "memory: MemTotal");
                assertAmount(110, capacity.get("pods"), "pods");
                for (String c : List.of("MemoryPressure", "DiskPressure", "PIDPressure")) {
                    assertEquals("False", condition(node.getStatus().getConditions(), c), c + ": " + node.getStatus().getConditions());
                }
                dev.berth.cri.v1.VersionResponse version = agent.runtime().version(VersionRequest.getDefaultInstance());
                assertEquals("berth", version.getRuntimeName());
                assertEquals("berth://" + version.getRuntimeVersion(), node.getStatus().getNodeInfo().getContainerRuntimeVersion());
                assertEquals(NODE, node.getMetadata().getLabels().get("kubernetes.io/hostname"));
                Lease lease = await("the lease", () -> client.leases().inNamespace("kube-node-lease").withName(NODE).get());
                assertEquals(NODE, lease.getSpec().getHolderIdentity());
                Instant firstRenew = lease.getSpec().getRenewTime().toInstant();

                // 2. the bound pod Running in the API, as the runtime has it
                Pod app = await("the pod is Running in the API", () -> {
                    Pod p = client.pods().inNamespace(NS).withName("app").get();
                    return p.getStatus() != null && "Running".equals(p.getStatus().getPhase())
                            && "True".equals(podCondition(p, "Ready")) ? p : null;
                });
                PodSandbox sandbox = sandboxOf(agent, appUid);
                assertNotNull(sandbox, "the pod's sandbox");
                String sandboxIp = agent.runtime().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(sandbox.getId())
                        .build()).getStatus().getNetwork().getIp();
                assertTrue(inTestSubnet(sandboxIp), "in the test subnet: " + sandboxIp);
                assertEquals(sandboxIp, app.getStatus().getPodIP());
                assertEquals(List.of(sandboxIp), app.getStatus().getPodIPs().stream().map(PodIP::getIp).toList());
                String nodeIp = node.getStatus().getAddresses().stream().filter(a -> "InternalIP".equals(a.getType()))
                        .map(NodeAddress::getAddress).findFirst().orElse(null);
                assertNotNull(app.getStatus().getHostIP(), "hostIP");
                assertEquals(nodeIp, app.getStatus().getHostIP(), "the node's InternalIP: " + node.getStatus().getAddresses());
                for (String c : List.of("PodScheduled", "Initialized", "ContainersReady", "Ready", "PodReadyToStartContainers")) {
                    assertEquals("True", podCondition(app, c), c + ": " + app.getStatus().getConditions());
                }
                assertNotNull(app.getStatus().getStartTime(), "startTime");
                assertEquals("Guaranteed", app.getStatus().getQosClass(), "limits only: requests default to them");
                Container appContainer = container(agent, sandbox.getId(), "app");
                ContainerStatus cs = app.getStatus().getContainerStatuses().get(0);
                assertEquals("app", cs.getName());
                assertNotNull(cs.getState().getRunning(), "running: " + cs.getState());
                assertEquals("berth://" + appContainer.getId(), cs.getContainerID());
                String imageRef = agent.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(appContainer.getId())
                        .build()).getStatus().getImageRef();
                assertFalse(imageRef.isEmpty());
                assertEquals(imageRef, cs.getImageID());
                assertEquals(0, cs.getRestartCount());
                assertTrue(cs.getReady());
                assertTrue(cs.getStarted());

                // another node's pod: no sandbox, its status untouched
                assertTrue(sandboxesNamed(agent, "elsewhere").isEmpty(), "no sandbox for another node's pod");
                Pod untouched = client.pods().inNamespace(NS).withName("elsewhere").get();
                assertTrue(untouched.getStatus() == null || untouched.getStatus().getPhase() == null, "its status is untouched");
                assertEquals(elsewhere.getMetadata().getResourceVersion(), untouched.getMetadata().getResourceVersion(), "never written");

                // 3. env and volumes as the container sees them (one exec: each is slow on a busy machine)
                String[] seen = ok(exec(agent, appContainer.getId(), "sh", "-c", "env; echo ---; "
                        + "echo disk > /scratch/f && cat /scratch/f; echo mem > /mem/f && cat /mem/f; cat /host/hello; "
                        + "if echo x 2>/dev/null > /host/nope; then echo writable; else echo read-only; fi; echo ---; "
                        + "cat /cm/color /cm/size; echo; cat /sec/pw; echo; ls /sec; echo ---; "
                        + "cat /info/labels; echo; cat /info/mem; echo; echo ---; "
                        + "cat /all/color; echo; cat /all/password; echo; cat /all/annotations; echo")).split("---\n");
                String env = seen[0];
                for (String line : List.of("PLAIN=plain", "POD_NAME=app", "POD_NS=apps", "POD_IP=" + sandboxIp, "NODE=" + NODE, "MEM_MI=64",
                        "CPU_M=500", "FROM_CM=blue", "FROM_SECRET=s3cret", "LINE=plain-blue-app", "CM_color=blue", "CM_size=L",
                        "SEC_password=s3cret")) {
                    assertTrue(env.contains("\n" + line + "\n") || env.startsWith(line + "\n"), line + " in " + env);
                }
                assertFalse(env.contains("MISSING_OPTIONAL="), "a missing optional source sets nothing: " + env);
                assertEquals("disk\nmem\nfrom the host\nread-only\n", seen[1], "emptyDir, emptyDir in memory, hostPath read-only");
                assertEquals("blueL\ns3cret\npw\n", seen[2], "configMap, secret with items");
                assertEquals("app=\"web\"\n64\n", seen[3], "downwardAPI");
                assertEquals("blue\ns3cret\nnote=\"hello\"\n", seen[4], "projected configMap, secret and downwardAPI");
                Path volumes = agentState.resolve("pods/" + appUid + "/volumes");
                assertEquals("tmpfs", MountTable.containing(volumes.resolve("kubernetes.io~empty-dir/mem")).fsType());
                assertEquals("tmpfs", MountTable.containing(volumes.resolve("kubernetes.io~secret/sec")).fsType());

                // the configMap changes; the refresh (every 30 s) brings it into the running container later
                client.configMaps().inNamespace(NS).withName("settings").edit(cm -> new ConfigMapBuilder(cm).addToData("color", "green").build());

                // 4. imagePullPolicy Never with a missing image
                ContainerStatus never = await("ErrImageNeverPull", () -> {
                    Pod p = client.pods().inNamespace(NS).withName("never").get();
                    ContainerStatus s = p.getStatus() == null || p.getStatus().getContainerStatuses() == null
                            || p.getStatus().getContainerStatuses().isEmpty() ? null : p.getStatus().getContainerStatuses().get(0);
                    return s != null && s.getState().getWaiting() != null
                            && "ErrImageNeverPull".equals(s.getState().getWaiting().getReason()) ? s : null;
                });
                assertEquals("Container image \"offline/not-here:1\" is not present with pull policy of Never",
                        never.getState().getWaiting().getMessage());
                assertNull(never.getContainerID(), "nothing was created");
                assertEquals("Pending", client.pods().inNamespace(NS).withName("never").get().getStatus().getPhase());
                Event failed = await("a Failed event", () -> client.v1().events().inNamespace(NS).list().getItems().stream()
                        .filter(e -> "never".equals(e.getInvolvedObject().getName()) && "Failed".equals(e.getReason())).findFirst()
                        .orElse(null));
                assertEquals("Warning", failed.getType());
                assertEquals("Error: ErrImageNeverPull", failed.getMessage());
                assertTrue(client.v1().events().inNamespace(NS).list().getItems().stream().anyMatch(e -> "never".equals(
                        e.getInvolvedObject().getName()) && "ErrImageNeverPull".equals(e.getReason()) && "Warning".equals(e.getType())),
                        "the event saying why");

                // 5. a container that exits non-zero, restartPolicy Never
                Pod fails = await("the failing pod is Failed", () -> {
                    Pod p = client.pods().inNamespace(NS).withName("fails").get();
                    return p.getStatus() != null && "Failed".equals(p.getStatus().getPhase()) ? p : null;
                });
                ContainerStatus terminated = fails.getStatus().getContainerStatuses().get(0);
                assertNotNull(terminated.getState().getTerminated(), "terminated: " + terminated.getState());
                assertEquals("Error", terminated.getState().getTerminated().getReason());
                assertEquals(3, terminated.getState().getTerminated().getExitCode());
                assertEquals("went wrong\n", terminated.getState().getTerminated().getMessage());
                assertEquals(0, terminated.getRestartCount());
                assertFalse(terminated.getReady());
                for (String c : List.of("Ready", "ContainersReady")) {
                    PodCondition notReady = fails.getStatus().getConditions().stream().filter(x -> c.equals(x.getType())).findFirst()
                            .orElseThrow();
                    assertEquals("False", notReady.getStatus(), c);
                    assertEquals("PodFailed", notReady.getReason(), c);
                }
                assertEquals("Never", fails.getSpec().getRestartPolicy());
                assertEquals("berth://" + container(agent, sandboxesNamed(agent, "fails").get(0).getId(), "main").getId(),
                        terminated.getContainerID());

                // 1. the lease renewed (every 10 s)
                await("the lease renewed", () -> client.leases().inNamespace("kube-node-lease").withName(NODE).get().getSpec()
                        .getRenewTime().toInstant().isAfter(firstRenew) ? true : null);

                // 3. the changed configMap in the running container: volumes, not env (as the kubelet does)
                await("the changed configMap in the container", () -> {
                    String out = ok(exec(agent, appContainer.getId(), "sh", "-c", "cat /cm/color; echo; cat /all/color"));
                    if (out.equals("green\ngreen")) {
                        return true;
                    }
                    Thread.sleep(3000);
                    return null;
                });

                // 7. SIGKILL while the pods run; the restarted agent adopts them and leaves their status alone
                assertTrue(api.requests().stream().anyMatch(r -> r.startsWith("PATCH /api/v1/namespaces/apps/pods/app/status")),
                        "the status is written as counted below");
                Map<String, String> sandboxesBefore = sandboxIds(agent);
                agent.kill();
                api.clearRequests();
                agent.restart();
                await("the new agent lists its pods", () -> api.requests().stream()
                        .anyMatch(r -> r.startsWith("GET /api/v1/pods?") && r.contains("spec.nodeName%3D" + NODE)) ? true : null);
                await("the new agent renews its lease", () -> api.requests().stream()
                        .anyMatch(r -> (r.startsWith("PUT ") || r.startsWith("POST ")) && r.contains("/namespaces/kube-node-lease/leases"))
                        ? true : null);
                Thread.sleep(Duration.ofSeconds(5).toMillis()); // time for needless writes or a wrong recreation
                assertEquals(sandboxesBefore, sandboxIds(agent), "the same sandboxes");
                assertEquals(appContainer.getId(), container(agent, sandbox.getId(), "app").getId(), "the same container");
                Map<String, Integer> statusPatches = new HashMap<>();
                for (String r : api.requests()) {
                    if (r.startsWith("PATCH /api/v1/namespaces/apps/pods/") && r.contains("/status")) {
                        statusPatches.merge(r.substring("PATCH /api/v1/namespaces/apps/pods/".length(), r.indexOf("/status")), 1, Integer::sum);
                    }
                }
                for (Map.Entry<String, Integer> e : statusPatches.entrySet()) {
                    assertTrue(e.getValue() <= 1, "status patches after the restart: " + statusPatches + "\n" + api.requests());
                }
                assertEquals("Running", client.pods().inNamespace(NS).withName("app").get().getStatus().getPhase());
                assertEquals("Failed", client.pods().inNamespace(NS).withName("fails").get().getStatus().getPhase());

                // 6. a deleted pod: stopped, its sandbox removed, its object deleted, nothing of it left
                client.pods().inNamespace(NS).withName("app").delete();
                await("the pod's object is deleted", () -> client.pods().inNamespace(NS).withName("app").get() == null ? true : null);
                assertNull(sandboxOf(agent, appUid), "its sandbox is removed before its object");
                assertEquals(2, api.requests().stream().filter(r -> r.startsWith("DELETE /api/v1/namespaces/apps/pods/app")).count(),
                        "the test's delete marked it, the agent's (grace 0) removed it");
                assertTrue(agent.runtime().listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                        .putLabelSelector("io.kubernetes.pod.uid", appUid)).build()).getContainersList().isEmpty(), "its containers");
                assertFalse(Files.exists(agentState.resolve("pods/" + appUid)), "its volume directory");
                assertTrue(MountTable.mountPointsUnder(agentState).stream().noneMatch(p -> p.toString().contains(appUid)),
                        "no mount of it left: " + MountTable.mountPointsUnder(agentState));
                try (Stream<Path> logs = Files.list(dir.resolve("logs"))) {
                    assertTrue(logs.noneMatch(p -> p.getFileName().toString().contains(appUid)), "its log directory");
                }
                assertTrue(agent.process().isAlive(), agent.logText());
            }
        } finally {
            cleanUp(berthDir, config);
        }
    }

    /** In 10.199.32.0/20. */
    private static boolean inTestSubnet(String ip) {
        String[] o = ip.split("\\.");
        return o.length == 4 && o[0].equals("10") && o[1].equals("199") && Integer.parseInt(o[2]) >= 32 && Integer.parseInt(o[2]) < 48;
    }

    private static void assertAmount(long expected, Quantity q, String what) {
        assertNotNull(q, what);
        assertEquals(0, new BigDecimal(expected).compareTo(q.getNumericalAmount()), what + ": " + q);
    }

    private static String condition(List<NodeCondition> conditions, String type) {
        return conditions.stream().filter(c -> type.equals(c.getType())).map(NodeCondition::getStatus).findFirst().orElse(null);
    }

    private static String podCondition(Pod p, String type) {
        return p.getStatus().getConditions() == null ? null : p.getStatus().getConditions().stream()
                .filter(c -> type.equals(c.getType())).map(PodCondition::getStatus).findFirst().orElse(null);
    }

    /** The cpus in /sys/devices/system/cpu/online, counted here independently of the agent. */
    private static int onlineCpus() throws IOException {
        int n = 0;
        for (String range : Files.readString(Path.of("/sys/devices/system/cpu/online")).trim().split(",")) {
            String[] ends = range.split("-");
            n += ends.length == 1 ? 1 : Integer.parseInt(ends[1]) - Integer.parseInt(ends[0]) + 1;
        }
        return n;
    }

    private static long memTotalBytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
            if (line.startsWith("MemTotal:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IllegalStateException("no MemTotal");
    }

    /** Whatever a failed run left: the agent leaves its pods running, so a daemon on its directories removes them. */
    private static void cleanUp(Path berthDir, Path config) throws Exception {
        try {
            AgentTests.removeLeftoverPods(berthDir, config);
        } finally {
            dev.berth.host.LinuxMounts.INSTANCE.unmountAllUnder(berthDir);
            AgentTests.deleteBridge(BRIDGE);
        }
    }

    /** Every sandbox's id by its pod's name. */
    private static Map<String, String> sandboxIds(BerthProcess agent) {
        Map<String, String> ids = new HashMap<>();
        for (PodSandbox s : agent.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
            ids.put(s.getMetadata().getName(), s.getId());
        }
        return ids;
    }

    private static PodSandbox sandboxOf(BerthProcess agent, String uid) {
        return agent.runtime().listPodSandbox(ListPodSandboxRequest.newBuilder().setFilter(PodSandboxFilter.newBuilder()
                .putLabelSelector("io.kubernetes.pod.uid", uid)).build()).getItemsList().stream().findFirst().orElse(null);
    }

    private static List<PodSandbox> sandboxesNamed(BerthProcess agent, String name) {
        return agent.runtime().listPodSandbox(ListPodSandboxRequest.newBuilder().setFilter(PodSandboxFilter.newBuilder()
                .putLabelSelector("io.kubernetes.pod.name", name)).build()).getItemsList();
    }

    private static Container container(BerthProcess agent, String sandboxId, String name) {
        return agent.runtime().listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setPodSandboxId(sandboxId).putLabelSelector("io.kubernetes.container.name", name)).build())
                .getContainersList().stream().findFirst().orElse(null);
    }

    private static <T> T await(String what, Callable<T> probe) throws Exception {
        return AgentTests.await(what, Duration.ofSeconds(90), probe);
    }

    /** A busybox image in the store under {@code root}, so the pods need no registry. */
    private void buildImage(Path root) throws IOException, InterruptedException {
        AgentTests.busyboxImage(dir, root, IMAGE);
    }
}
