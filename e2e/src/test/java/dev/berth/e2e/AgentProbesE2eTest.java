package dev.berth.e2e;

import static dev.berth.e2e.AgentTests.exec;
import static dev.berth.e2e.AgentTests.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.testing.ApiServerFixture;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ListContainersRequest;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Probes on real containers under {@code berth agent --kubeconfig} (the mock API server shows
 * the pods' statuses and events): a failing liveness probe of each kind (exec, httpGet against
 * busybox httpd, tcpSocket, grpc against a health server this test starts in the pod's network
 * namespace) restarts its container; a readiness probe flips the container's ready and the pod's
 * Ready both ways; a startup probe holds a failing liveness probe back until it passes. Periods
 * are 1 s; timeouts 10 s, since an exec through runc takes over a second on a busy machine.
 */
@Tag("root")
class AgentProbesE2eTest {
    private static final String IMAGE = "offline/agent-probes-e2e:1";
    private static final String NODE = "e2e-probes-node";
    private static final String NS = "probes";
    private static final String BRIDGE = "berthpr0";
    private static final String SUBNET = "10.199.80.0/20";

    @TempDir
    Path dir;

    /**
     * A pod whose one container {@code main} fails its liveness probe {@code probe} (YAML, with
     * the container's command and ports). One pod per kind: the events of a pod are rate limited
     * as the kubelet limits them (25, then one per 5 minutes), and each pod's must be seen.
     */
    private static String live(String name, String command, String probe) {
        return """
                apiVersion: v1
                kind: Pod
                metadata: {name: %1$s, namespace: probes}
                spec:
                  nodeName: %2$s
                  terminationGracePeriodSeconds: 1
                  containers:
                  - name: main
                    image: %3$s
                    imagePullPolicy: Never
                    command: %4$s
                    ports: [{name: web, containerPort: 8081}]
                    livenessProbe:
                      %5$s
                      periodSeconds: 1
                      timeoutSeconds: 10
                      failureThreshold: 2
                """.formatted(name, NODE, IMAGE, command, probe);
    }

    private static final List<String> LIVE = List.of(
            live("live-exec", "[\"/bin/sleep\", \"3600\"]",
                    "exec: {command: [\"/bin/sh\", \"-c\", \"echo no such file; test -f /healthy\"]}"),
            live("live-http", "[\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8081\", \"-h\", \"/bin\"]",
                    "httpGet: {path: /healthz, port: web}\n      initialDelaySeconds: 2"),
            live("live-tcp", "[\"/bin/sleep\", \"3601\"]", "tcpSocket: {port: 8082}"),
            live("live-grpc", "[\"/bin/sleep\", \"3602\"]", "grpc: {port: 8083}\n      initialDelaySeconds: 5"));

    private static final String READY = """
            apiVersion: v1
            kind: Pod
            metadata: {name: ready, namespace: probes}
            spec:
              nodeName: %1$s
              terminationGracePeriodSeconds: 1
              containers:
              - name: main
                image: %2$s
                imagePullPolicy: Never
                command: ["/bin/sleep", "3603"]
                readinessProbe:
                  exec: {command: ["/bin/sh", "-c", "test -f /ready"]}
                  periodSeconds: 1
                  timeoutSeconds: 10
                  failureThreshold: 1
            """;

    private static final String GATED = """
            apiVersion: v1
            kind: Pod
            metadata: {name: gated, namespace: probes}
            spec:
              nodeName: %1$s
              terminationGracePeriodSeconds: 1
              containers:
              - name: main
                image: %2$s
                imagePullPolicy: Never
                command: ["/bin/sleep", "3604"]
                startupProbe:
                  exec: {command: ["/bin/sh", "-c", "test -f /started"]}
                  periodSeconds: 1
                  timeoutSeconds: 10
                  failureThreshold: 300
                livenessProbe:
                  exec: {command: ["/bin/sh", "-c", "exit 1"]}
                  periodSeconds: 1
                  timeoutSeconds: 10
                  failureThreshold: 1
            """;

    private Path config() throws IOException {
        return Files.writeString(dir.resolve("agent.toml"), "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"" + SUBNET + "\"\n"
                + "[agent]\ncgroups_per_qos = false\npod_logs_dir = \"" + dir.resolve("logs") + "\"\n");
    }

    @Test
    void livenessOfEachKindRestartsReadinessFlipsAndStartupGatesLiveness() throws Exception {
        Path berthDir = dir.resolve("berth");
        Path config = config();
        AgentTests.busyboxImage(dir, berthDir.resolve("root"), IMAGE);
        Process health = null;
        try (ApiServerFixture api = new ApiServerFixture(); KubernetesClient client = api.client()) {
            Path kubeconfig = api.writeKubeconfig(dir.resolve("kubeconfig"));
            for (String pod : LIVE) {
                client.resource(Serialization.unmarshal(pod, Pod.class)).create();
            }
            for (String pod : List.of(READY, GATED)) {
                client.resource(Serialization.unmarshal(pod.formatted(NODE, IMAGE), Pod.class)).create();
            }
            try (BerthProcess agent = BerthProcess.startAgent(berthDir, "", "--config", config.toString(), "--metrics-address", "",
                    "--node-name", NODE, "--kubeconfig", kubeconfig.toString())) {
                // the grpc container's health server, in the pod's network namespace, answers NOT_SERVING
                await("the grpc container runs", () -> running(client, "live-grpc", "main") ? true : null);
                long pid = await("the grpc container's process", () -> pidOf("3602"));
                health = new ProcessBuilder("nsenter", "--net=/proc/" + pid + "/ns/net", Path.of(System.getProperty("java.home"), "bin",
                        "java").toString(), "-cp", System.getProperty("java.class.path"), HealthServerMain.class.getName(), "8083",
                        "NOT_SERVING").redirectErrorStream(true).start();
                BufferedReader said = new BufferedReader(new InputStreamReader(health.getInputStream(), StandardCharsets.UTF_8));
                assertEquals("serving", said.readLine(), "the health server started");

                // 1. a failing liveness probe of each kind restarts its container
                for (String kind : List.of("exec", "http", "tcp", "grpc")) {
                    await(kind + " restarted", () -> restarts(client, "live-" + kind, "main") >= 1 ? true : null);
                    await(kind + ": Killing", () -> event(client, "live-" + kind, "Killing",
                            "Container main failed liveness probe, will be restarted"));
                }
                assertNotNull(event(client, "live-exec", "Unhealthy", "Liveness probe failed: no such file\n"), events(client));
                // (a probe that came before httpd listened saw the connection refused; a later run answers)
                await("httpd's answer", () -> event(client, "live-http", "Unhealthy",
                        "Liveness probe failed: HTTP probe failed with statuscode: 404"));
                Event tcp = eventStarting(client, "live-tcp", "Liveness probe failed: dial tcp ");
                assertNotNull(tcp, events(client));
                assertTrue(tcp.getMessage().endsWith(":8082: connect: connection refused"), tcp.getMessage());
                // (should the container have started before the server did, its successor meets the server)
                await("the gRPC health server's answer", () -> event(client, "live-grpc", "Unhealthy",
                        "Liveness probe failed: service unhealthy (responded with \"NOT_SERVING\")"));

                // 2. readiness flips Ready both ways
                ContainerStatus unready = await("ready: running, not ready", () -> {
                    ContainerStatus s = status(client, "ready", "main");
                    return s != null && s.getState().getRunning() != null ? s : null;
                });
                assertFalse(unready.getReady());
                assertEquals("False", condition(client, "ready", "Ready"));
                String main = containerId(agent, "ready", "main");
                ok(exec(agent, main, "sh", "-c", ": > /ready"));
                await("ready", () -> Boolean.TRUE.equals(status(client, "ready", "main").getReady())
                        && "True".equals(condition(client, "ready", "Ready")) ? true : null);
                assertEquals("True", condition(client, "ready", "ContainersReady"));
                ok(exec(agent, main, "rm", "/ready"));
                await("unready again", () -> !Boolean.TRUE.equals(status(client, "ready", "main").getReady())
                        && "False".equals(condition(client, "ready", "Ready")) ? true : null);
                assertEquals(0, status(client, "ready", "main").getRestartCount(), "readiness never restarts");

                // 3. the startup probe holds the failing liveness probe back
                await("gated: running", () -> running(client, "gated", "main") ? true : null);
                Thread.sleep(4000); // four liveness periods: it would have restarted it four times
                ContainerStatus gated = status(client, "gated", "main");
                assertEquals(0, gated.getRestartCount(), "not restarted before its start");
                assertFalse(gated.getStarted(), "not started");
                assertEquals(null, event(client, "gated", "Unhealthy", "Liveness probe failed: "), "liveness never ran");
                ok(exec(agent, containerId(agent, "gated", "main"), "sh", "-c", ": > /started"));
                await("gated: restarted by liveness once started", () -> restarts(client, "gated", "main") >= 1 ? true : null);
                assertNotNull(event(client, "gated", "Killing", "Container main failed liveness probe, will be restarted"));
                assertTrue(agent.process().isAlive(), agent.logText());
            }
        } finally {
            if (health != null) {
                health.getOutputStream().close();
                health.destroy();
                health.waitFor(10, TimeUnit.SECONDS);
            }
            try {
                AgentTests.removeLeftoverPods(berthDir, config);
            } finally {
                dev.berth.host.LinuxMounts.INSTANCE.unmountAllUnder(berthDir);
                AgentTests.deleteBridge(BRIDGE);
            }
        }
    }

    /** The pid of the process whose command line is {@code sleep <arg>} (each container sleeps a number of its own). */
    private static Long pidOf(String arg) throws IOException {
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("[0-9]+")).toList()) {
                try {
                    String cmdline = Files.readString(p.resolve("cmdline"));
                    if (cmdline.equals("/bin/sleep\0" + arg + "\0")) {
                        return Long.parseLong(p.getFileName().toString());
                    }
                } catch (IOException gone) {
                    // the process ended meanwhile
                }
            }
        }
        return null;
    }

    private static Pod pod(KubernetesClient client, String name) {
        return client.pods().inNamespace(NS).withName(name).get();
    }

    private static ContainerStatus status(KubernetesClient client, String pod, String container) {
        Pod p = pod(client, pod);
        if (p == null || p.getStatus() == null || p.getStatus().getContainerStatuses() == null) {
            return null;
        }
        return p.getStatus().getContainerStatuses().stream().filter(c -> container.equals(c.getName())).findFirst().orElse(null);
    }

    private static boolean running(KubernetesClient client, String pod, String container) {
        ContainerStatus s = status(client, pod, container);
        return s != null && s.getState() != null && s.getState().getRunning() != null;
    }

    private static int restarts(KubernetesClient client, String pod, String container) {
        ContainerStatus s = status(client, pod, container);
        return s == null || s.getRestartCount() == null ? 0 : s.getRestartCount();
    }

    private static String condition(KubernetesClient client, String pod, String type) {
        Pod p = pod(client, pod);
        return p.getStatus().getConditions().stream().filter(c -> type.equals(c.getType())).map(PodCondition::getStatus).findFirst()
                .orElse(null);
    }

    private static List<Event> eventList(KubernetesClient client) {
        return client.v1().events().inNamespace(NS).list().getItems();
    }

    private static String events(KubernetesClient client) {
        return eventList(client).stream().map(e -> e.getInvolvedObject().getName() + " " + e.getReason() + ": " + e.getMessage()).toList()
                .toString();
    }

    /** The event of {@code pod} with this reason and message (a message ending in ": " matches its start), or null. */
    private static Event event(KubernetesClient client, String pod, String reason, String message) {
        return eventList(client).stream().filter(e -> pod.equals(e.getInvolvedObject().getName()) && reason.equals(e.getReason())
                && (message.endsWith(": ") ? e.getMessage().startsWith(message) : message.equals(e.getMessage()))).findFirst().orElse(null);
    }

    private static Event eventStarting(KubernetesClient client, String pod, String start) {
        return eventList(client).stream().filter(e -> pod.equals(e.getInvolvedObject().getName()) && e.getMessage() != null
                && e.getMessage().startsWith(start)).findFirst().orElse(null);
    }

    private static String containerId(BerthProcess agent, String pod, String name) {
        return agent.runtime().listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .putLabelSelector("io.kubernetes.pod.name", pod).putLabelSelector("io.kubernetes.container.name", name)).build())
                .getContainersList().stream().filter(c -> c.getState() == dev.berth.cri.v1.ContainerState.CONTAINER_RUNNING)
                .map(Container::getId).findFirst().orElseThrow();
    }

    private static <T> T await(String what, Callable<T> probe) throws Exception {
        return AgentTests.await(what, Duration.ofSeconds(90), probe);
    }
}
