package dev.berth.agent.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.KubeletKeys;
import dev.berth.agent.testing.FakeCri;
import dev.berth.agent.testing.RecordingResponse;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ContainerLogsEndpointTest {
    @TempDir
    Path dir;

    private FakeCri fake;
    private CriClient cri;
    private Path logs;
    private Path podLogs;
    private String sandbox;
    private final Map<String, PodStatus> statuses = new HashMap<>();
    private final Pod pod = new PodBuilder().withNewMetadata().withNamespace("ns").withName("web").withUid("uid-1").endMetadata()
            .withNewSpec().addNewContainer().withName("app").endContainer().addNewInitContainer().withName("init").endInitContainer()
            .addNewContainer().withName("later").endContainer().endSpec().build();
    private ContainerLogsEndpoint endpoint;

    @BeforeEach
    void setUp() throws Exception {
        fake = new FakeCri();
        cri = new CriClient(fake.channel(), Duration.ofSeconds(10), Duration.ofSeconds(10));
        logs = Files.createDirectories(dir.resolve("logs"));
        podLogs = Files.createDirectories(logs.resolve("ns_web_uid-1"));
        sandbox = cri.runPodSandbox(sandboxConfig(), "");
        endpoint = new ContainerLogsEndpoint(() -> List.of(pod), uid -> Optional.ofNullable(statuses.get(uid)), cri, logs,
                new CriLogReader(Duration.ofMillis(10)), Duration.ofMillis(10),
                Clock.fixed(Instant.parse("2026-01-02T03:04:10Z"), ZoneOffset.UTC));
    }

    @AfterEach
    void tearDown() {
        fake.close();
    }

    private PodSandboxConfig sandboxConfig() {
        return PodSandboxConfig.newBuilder().setMetadata(PodSandboxMetadata.newBuilder().setName("web").setNamespace("ns").setUid("uid-1"))
                .putLabels(KubeletKeys.POD_UID, "uid-1").setLogDirectory(podLogs.toString()).build();
    }

    /** A run of container {@code name} (attempt {@code attempt}) whose log file holds {@code log}. */
    private String run(String name, int attempt, String log) throws Exception {
        String id = cri.createContainer(sandbox, ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(name).setAttempt(attempt)).setImage(ImageSpec.newBuilder().setImage("i"))
                .putLabels(KubeletKeys.POD_UID, "uid-1").putLabels(KubeletKeys.CONTAINER_NAME, name)
                .setLogPath(name + "/" + attempt + ".log").build(), sandboxConfig());
        Files.createDirectories(podLogs.resolve(name));
        Files.writeString(podLogs.resolve(name + "/" + attempt + ".log"), log);
        cri.startContainer(id);
        return id;
    }

    private RecordingResponse get(String ns, String podName, String container, String... query) throws Exception {
        Map<String, List<String>> q = new LinkedHashMap<>();
        for (int i = 0; i < query.length; i += 2) {
            q.put(query[i], List.of(query[i + 1]));
        }
        RecordingResponse r = new RecordingResponse();
        endpoint.handle(new EndpointRequest("GET", "/containerLogs/" + ns + "/" + podName + "/" + container,
                List.of(ns, podName, container), q, Map.of()), r);
        return r;
    }

    private static String line(String time, String text) {
        return time + " stdout F " + text + "\n";
    }

    @Test
    void theNewestRunsLogWithTheKubeletsParameters() throws Exception {
        String first = run("app", 0, line("2026-01-02T03:04:01Z", "first run"));
        fake.exit(first, 1, null);
        run("app", 1, line("2026-01-02T03:04:02Z", "a") + line("2026-01-02T03:04:05Z", "b") + line("2026-01-02T03:04:08Z", "c"));

        RecordingResponse all = get("ns", "web", "app");
        assertEquals(200, all.status());
        assertEquals("a\nb\nc\n", all.text());
        assertTrue(all.closed());
        assertEquals("b\nc\n", get("ns", "web", "app", "tailLines", "2").text());
        assertEquals("c\n", get("ns", "web", "app", "tail", "1").text(), "the older name of tailLines");
        assertEquals("a\nb\nc\n", get("ns", "web", "app", "tail", "all").text());
        assertEquals("c\n", get("ns", "web", "app", "sinceSeconds", "3").text(), "since 03:04:07 by the endpoint's clock");
        assertEquals("b\nc\n", get("ns", "web", "app", "sinceTime", "2026-01-02T03:04:05Z").text());
        assertEquals("2026-01-02T03:04:08Z c\n", get("ns", "web", "app", "timestamps", "true", "tailLines", "1").text());
        assertEquals("a\nb", get("ns", "web", "app", "limitBytes", "3").text());
        assertEquals("first run\n", get("ns", "web", "app", "previous", "true").text(), "the run before the newest");
        assertEquals("a\nb\nc\n", get("ns", "web", "app", "previous", "false").text());
    }

    @Test
    void missingPodsContainersAndBadParametersAreRefusedAsTheKubeletRefusesThem() throws Exception {
        run("app", 0, line("2026-01-02T03:04:01Z", "x"));
        assertAnswer(404, "pod \"nope\" does not exist\n", get("ns", "nope", "app"));
        assertAnswer(404, "pod \"web\" does not exist\n", get("other", "web", "app"));
        assertAnswer(404, "container \"db\" not found in pod \"web\"\n", get("ns", "web", "db"));
        assertAnswer(400, "{\"message\": \"Unable to decode query.\"}\n", get("ns", "web", "app", "tailLines", "ten"));
        assertAnswer(400, "{\"message\": \"Unable to decode query.\"}\n", get("ns", "web", "app", "sinceTime", "yesterday"));
        assertAnswer(422, "{\"message\": \"Invalid request.\"}\n", get("ns", "web", "app", "tailLines", "-1"));
        assertAnswer(422, "{\"message\": \"Invalid request.\"}\n", get("ns", "web", "app", "limitBytes", "0"));
        assertAnswer(422, "{\"message\": \"Invalid request.\"}\n", get("ns", "web", "app", "sinceSeconds", "0"));
        assertAnswer(422, "{\"message\": \"Invalid request.\"}\n",
                get("ns", "web", "app", "sinceSeconds", "5", "sinceTime", "2026-01-02T03:04:05Z"));
        assertAnswer(400, "previous terminated container \"app\" in pod \"web\" not found\n", get("ns", "web", "app", "previous", "1"));
        RecordingResponse missing = new RecordingResponse();
        endpoint.handle(new EndpointRequest("GET", "/containerLogs/ns/web", List.of("ns", "web"), Map.of(), Map.of()), missing);
        assertAnswer(400, "{\"message\": \"Missing container name.\"}\n", missing);
    }

    @Test
    void aContainerWithoutARunSaysWhyItWaits() throws Exception {
        assertAnswer(400, "container \"later\" in pod \"web\" is not available\n", get("ns", "web", "later"));
        statuses.put("uid-1", new PodStatusBuilder().withContainerStatuses(new ContainerStatusBuilder().withName("later")
                .withNewState().withNewWaiting().withReason("ErrImagePull").endWaiting().endState().build()).build());
        assertAnswer(400, "container \"later\" in pod \"web\" is waiting to start: image can't be pulled\n", get("ns", "web", "later"));
        statuses.put("uid-1", new PodStatusBuilder().withContainerStatuses(new ContainerStatusBuilder().withName("later")
                .withNewState().withNewWaiting().withReason("PodInitializing").endWaiting().endState().build()).build());
        assertAnswer(400, "container \"later\" in pod \"web\" is waiting to start: PodInitializing\n", get("ns", "web", "later"));
        statuses.put("uid-1", new PodStatus());
        assertAnswer(400, "container \"later\" in pod \"web\" is waiting to start - no logs yet\n", get("ns", "web", "later"));
        // an init container's log is served like any other
        run("init", 0, line("2026-01-02T03:04:01Z", "initialised"));
        assertEquals("initialised\n", get("ns", "web", "init").text());
    }

    @Test
    void aLogPathThatLeadsOutOfTheLogsDirectoryOrToAnythingButAFileIsRefused() throws Exception {
        Path secret = Files.writeString(dir.resolve("secret"), line("2026-01-02T03:04:01Z", "the host's secret"));
        String id = run("app", 0, "");
        Path file = podLogs.resolve("app/0.log");
        Files.delete(file);
        Files.createSymbolicLink(file, secret);
        RecordingResponse r = get("ns", "web", "app");
        assertEquals(400, r.status());
        assertEquals("the log of container \"app\" in pod \"web\" is outside the pod logs directory\n", r.text());

        // the runtime's own path is held to the same rule
        fake.logPath(id, secret.toString());
        assertEquals(400, get("ns", "web", "app").status());
        assertTrue(!get("ns", "web", "app").text().contains("secret\n"));

        // a directory (or a fifo: opening it would block the reader) is no log
        Files.delete(file);
        Files.createDirectories(file);
        fake.logPath(id, file.toString());
        assertAnswer(400, "the log of container \"app\" in pod \"web\" is not a regular file\n", get("ns", "web", "app"));

        // a symlink that stays inside is followed
        Files.delete(file);
        Path inside = Files.writeString(podLogs.resolve("app/elsewhere.log"), line("2026-01-02T03:04:01Z", "inside"));
        Files.createSymbolicLink(file, inside);
        assertEquals("inside\n", get("ns", "web", "app").text());
    }

    @Test
    void withoutARuntimeLogPathTheAgentsOwnPlaceIsRead() throws Exception {
        String id = run("app", 3, line("2026-01-02T03:04:01Z", "from the agent's path"));
        fake.logPath(id, "");
        assertEquals("from the agent's path\n", get("ns", "web", "app").text());
    }

    @Test
    void followEndsWhenTheContainerExitsOrTheClientGoes() throws Exception {
        String id = run("app", 0, line("2026-01-02T03:04:01Z", "hello"));
        Path file = podLogs.resolve("app/0.log");
        RecordingResponse r = new RecordingResponse();
        CompletableFuture<Void> following = CompletableFuture.runAsync(() -> {
            try {
                endpoint.handle(new EndpointRequest("GET", "/containerLogs/ns/web/app", List.of("ns", "web", "app"),
                        Map.of("follow", List.of("true")), Map.of()), r);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        awaitText(r, "hello\n");
        Files.writeString(file, line("2026-01-02T03:04:02Z", "more"), StandardOpenOption.APPEND);
        awaitText(r, "hello\nmore\n");
        Files.writeString(file, line("2026-01-02T03:04:03Z", "last words"), StandardOpenOption.APPEND);
        fake.exit(id, 0, null);
        following.get(10, TimeUnit.SECONDS);
        assertEquals("hello\nmore\nlast words\n", r.text());
        assertTrue(r.closed());

        String second = run("app", 1, line("2026-01-02T03:04:05Z", "again"));
        RecordingResponse r2 = new RecordingResponse();
        CompletableFuture<Void> following2 = CompletableFuture.runAsync(() -> {
            try {
                endpoint.handle(new EndpointRequest("GET", "/containerLogs/ns/web/app", List.of("ns", "web", "app"),
                        Map.of("follow", List.of("")), Map.of()), r2);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        awaitText(r2, "again\n");
        r2.goAway();
        following2.get(10, TimeUnit.SECONDS);
        assertEquals("CONTAINER_RUNNING", cri.containerStatus(second).getState().name(), "the container runs on");
    }

    private static void assertAnswer(int status, String text, RecordingResponse r) {
        assertEquals(status, r.status(), r.text());
        assertEquals(text, r.text());
        assertEquals("text/plain; charset=utf-8", r.contentType());
    }

    private static void awaitText(RecordingResponse r, String text) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!r.text().equals(text)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("never read \"" + text + "\", only \"" + r.text() + "\"");
            }
            Thread.sleep(5);
        }
    }
}
