package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.node.MachineFacts;
import dev.berth.agent.server.ContainerLogsEndpoint;
import dev.berth.agent.server.DirUsage;
import dev.berth.agent.server.EndpointRequest;
import dev.berth.agent.server.NodeReadings;
import dev.berth.agent.server.ResourceMetricsEndpoint;
import dev.berth.agent.server.StatsSummary;
import dev.berth.agent.server.StatsSummaryBuilder;
import dev.berth.agent.server.StatsSummaryEndpoint;
import dev.berth.agent.testing.RecordingResponse;
import dev.berth.common.Json;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxState;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The content of the agent's HTTP API against a real pod: a static pod under {@code berth agent}
 * burns CPU and holds 20 MB in its shell; {@code /stats/summary}, built by the agent's endpoint
 * from the CRI on the agent's socket and this node's readings, reports the container's working
 * set as its memory cgroup says it (usage less inactive file pages) and its CPU time between
 * two readings of its cpuacct cgroup; {@code /metrics/resource} names it; and
 * {@code /containerLogs} returns what the container printed. (The HTTP server is another
 * part's: the endpoints are called directly.)
 */
@Tag("root")
class AgentStatsSummaryE2eTest {
    private static final String IMAGE = "offline/agent-stats:1";
    private static final String NODE = "e2e-stats";
    private static final String POD = "burn-" + NODE;
    private static final String BRIDGE = "berthst0";
    private static final String SUBNET = "10.199.12.0/22";
    private static final long HELD = 20_000_000;

    @TempDir
    Path dir;

    @Test
    void summaryAgreesWithTheContainersCgroupsAndLogsAreWhatItPrinted() throws Exception {
        Path berthDir = dir.resolve("berth");
        Path manifests = Files.createDirectories(dir.resolve("manifests"));
        Path logs = dir.resolve("logs");
        AgentTests.busyboxImage(dir, berthDir.resolve("root"), IMAGE);
        Path config = Files.writeString(dir.resolve("agent.toml"), "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"" + SUBNET + "\"\n"
                + "[agent]\ncgroups_per_qos = false\npod_logs_dir = \"" + logs + "\"\nmanifest_rescan_interval = \"1s\"\n");
        ManagedChannel channel = null;
        boolean podsGone = false;
        try (BerthProcess agent = BerthProcess.startAgent(berthDir, "", "--config", config.toString(), "--metrics-address", "",
                "--node-name", NODE, "--pod-manifest-path", manifests.toString())) {
            Files.writeString(manifests.resolve("burn.yaml"), """
                    apiVersion: v1
                    kind: Pod
                    metadata: {name: burn}
                    spec:
                      terminationGracePeriodSeconds: 0
                      containers:
                      - name: burn
                        image: %s
                        # a CPU request: a BestEffort container's 2 shares would starve on this busy machine
                        resources: {requests: {cpu: "1", memory: 64Mi}}
                        command: ["/bin/sh", "-c"]
                        args: ["echo hello-from-burn; v=$(/bin/busybox head -c %d /dev/zero | /bin/busybox tr '\\\\0' x); echo holding ${#v}; while :; do :; done"]
                    """.formatted(IMAGE, HELD));
            PodSandbox sandbox = AgentTests.await("the pod runs", Duration.ofSeconds(90), () -> agent.runtime()
                    .listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList().stream()
                    .filter(s -> s.getState() == PodSandboxState.SANDBOX_READY && POD.equals(s.getMetadata().getName())).findFirst().orElse(null));
            String uid = sandbox.getMetadata().getUid();
            Path log = logs.resolve("default_" + POD + "_" + uid + "/burn/0.log");
            try {
                AgentTests.await("the shell holds its memory", Duration.ofSeconds(30),
                        () -> Files.exists(log) && Files.readString(log).contains(" holding " + HELD) ? true : null);
            } catch (AssertionError e) {
                throw new AssertionError(e.getMessage() + "; the log: " + (Files.exists(log) ? Files.readString(log) : "none") + "; containers: "
                        + agent.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList(), e);
            }
            String containerId = agent.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList().stream()
                    .filter(c -> c.getState() == ContainerState.CONTAINER_RUNNING && c.getPodSandboxId().equals(sandbox.getId()))
                    .findFirst().orElseThrow().getId();
            long pid = pid(agent, containerId);

            channel = Grpc.newChannelBuilder("unix://" + agent.socket(), InsecureChannelCredentials.create()).build();
            CriClient cri = new CriClient(channel, Duration.ofSeconds(10), Duration.ofSeconds(10));
            Pod pod = new PodBuilder().withNewMetadata().withNamespace("default").withName(POD).withUid(uid).endMetadata()
                    .withNewSpec().addNewContainer().withName("burn").withImage(IMAGE).endContainer().endSpec().build();
            StatsSummaryBuilder builder = new StatsSummaryBuilder(cri, () -> List.of(pod), NODE, agent.root(), logs,
                    agent.root().resolve("pods"), new NodeReadings(Path.of("/")), MachineFacts.current().memoryBytes(), Clock.systemUTC(),
                    new DirUsage(Duration.ofMinutes(1), Clock.systemUTC()));

            // the first summary gives the node its first CPU sample; the second its rate
            get(new StatsSummaryEndpoint(builder), "/stats/summary", Map.of());
            Path cpu = cgroup(pid, "cpuacct");
            Path memory = cgroup(pid, "memory");
            long cpuBefore = Long.parseLong(Files.readString(cpu.resolve("cpuacct.usage")).trim());
            Thread.sleep(1000);
            RecordingResponse response = get(new StatsSummaryEndpoint(builder), "/stats/summary", Map.of());
            long cpuAfter = Long.parseLong(Files.readString(cpu.resolve("cpuacct.usage")).trim());
            long workingSet = Long.parseLong(Files.readString(memory.resolve("memory.usage_in_bytes")).trim())
                    - field(Files.readString(memory.resolve("memory.stat")), "total_inactive_file");
            assertEquals(200, response.status());
            StatsSummary summary = Json.mapper().readValue(response.text(), StatsSummary.class);

            StatsSummary.PodStats p = summary.pods().stream().filter(x -> x.podRef().uid().equals(uid)).findFirst().orElseThrow();
            assertEquals(new StatsSummary.PodReference(POD, "default", uid), p.podRef());
            StatsSummary.ContainerStats c = p.containers().get(0);
            assertEquals("burn", c.name());
            long reported = c.cpu().usageCoreNanoSeconds();
            assertTrue(cpuBefore <= reported && reported <= cpuAfter,
                    "the container's CPU time is its cgroup's between the two readings: " + cpuBefore + " <= " + reported + " <= " + cpuAfter);
            assertTrue(c.cpu().usageNanoCores() > 50_000_000L, "a busy loop with a core's share uses over 0.05 core: " + c.cpu());
            assertTrue(c.cpu().usageNanoCores() < 1_300_000_000L, "a shell loop uses one core at most: " + c.cpu());
            long ws = c.memory().workingSetBytes();
            assertTrue(ws >= HELD, "the held 20 MB are in the working set: " + ws);
            assertTrue(Math.abs(ws - workingSet) <= Math.max(2L << 20, workingSet / 10),
                    "working set " + ws + " against the cgroup's usage less inactive_file " + workingSet);
            assertTrue(p.memory().workingSetBytes() >= ws, "the pod holds its container: " + p.memory());
            assertNotNull(p.cpu().usageCoreNanoSeconds());
            assertEquals("eth0", p.network().name(), "the pod's interface: " + p.network());
            assertTrue(c.logs().usedBytes() > 0, "the container's log is counted: " + c.logs());

            StatsSummary.Node n = summary.node();
            assertEquals(NODE, n.nodeName());
            assertTrue(n.cpu().usageNanoCores() >= 50_000_000L, "the node runs the busy loop: " + n.cpu());
            assertTrue(n.memory().workingSetBytes() > ws && n.memory().availableBytes() > 0, n.memory().toString());
            assertTrue(n.fs().capacityBytes() > 0 && n.runtime().imageFs().usedBytes() > 0, n.fs() + " " + n.runtime());

            String metrics = get(new ResourceMetricsEndpoint(builder), "/metrics/resource", Map.of()).text();
            Matcher m = Pattern.compile("\ncontainer_memory_working_set_bytes\\{container=\"burn\",namespace=\"default\",pod=\"" + POD
                    + "\"} (\\d+) \\d+\n").matcher(metrics);
            assertTrue(m.find(), metrics);
            assertTrue(Long.parseLong(m.group(1)) >= HELD, metrics);
            assertTrue(metrics.contains("\nresource_scrape_error 0\n"), metrics);

            ContainerLogsEndpoint logsEndpoint = new ContainerLogsEndpoint(() -> List.of(pod), u -> Optional.empty(), cri, logs);
            assertEquals("hello-from-burn\nholding " + HELD + "\n", get(logsEndpoint, "/containerLogs/default/" + POD + "/burn", Map.of()).text());
            assertEquals("holding " + HELD + "\n", get(logsEndpoint, "/containerLogs/default/" + POD + "/burn",
                    Map.of("tailLines", List.of("1"))).text());
            assertEquals(404, get(logsEndpoint, "/containerLogs/default/" + POD + "/nope", Map.of()).status());

            Files.delete(manifests.resolve("burn.yaml"));
            AgentTests.await("the pod is gone", Duration.ofSeconds(60), () -> agent.runtime()
                    .listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount() == 0 ? true : null);
            podsGone = true;
        } finally {
            if (channel != null) {
                channel.shutdownNow();
            }
            AgentTests.emptyDirectory(manifests);
            if (!podsGone) {
                AgentTests.removeLeftoverPods(berthDir, config);
            }
            AgentTests.deleteBridge(BRIDGE);
        }
    }

    private static RecordingResponse get(dev.berth.agent.server.Endpoint endpoint, String path, Map<String, List<String>> query)
            throws Exception {
        List<String> segments = List.of(path.split("/")).subList(2, path.split("/").length);
        RecordingResponse r = new RecordingResponse();
        endpoint.handle(new EndpointRequest("GET", path, path.startsWith("/containerLogs/") ? segments : List.of(), query, Map.of()), r);
        return r;
    }

    /** The container's cgroup directory in the v1 hierarchy of {@code controller} (this host's cgroups are hybrid). */
    private static Path cgroup(long pid, String controller) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/cgroup"))) {
            String[] f = line.split(":", 3);
            if (List.of(f[1].split(",")).contains(controller)) {
                Path root = Files.isDirectory(Path.of("/sys/fs/cgroup/" + controller)) ? Path.of("/sys/fs/cgroup/" + controller)
                        : Path.of("/sys/fs/cgroup/cpu,cpuacct");
                return Path.of(root + f[2]);
            }
        }
        throw new IllegalStateException("no " + controller + " cgroup for " + pid);
    }

    private static long field(String stat, String name) {
        for (String line : stat.split("\n")) {
            if (line.startsWith(name + " ")) {
                return Long.parseLong(line.substring(name.length() + 1).trim());
            }
        }
        throw new IllegalStateException("no " + name + " in " + stat);
    }

    /** The container's process, from the verbose status berth gives. */
    private static long pid(BerthProcess agent, String containerId) {
        String info = agent.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(containerId).setVerbose(true)
                .build()).getInfoOrThrow("info");
        Matcher m = Pattern.compile("\"pid\":(\\d+)").matcher(info);
        assertTrue(m.find(), info);
        return Long.parseLong(m.group(1));
    }

    @SuppressWarnings("unused")
    private static <T> T await(String what, Callable<T> probe) throws Exception {
        return AgentTests.await(what, Duration.ofSeconds(60), probe);
    }
}
