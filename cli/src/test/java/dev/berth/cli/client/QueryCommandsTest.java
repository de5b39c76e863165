package dev.berth.cli.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerAttributes;
import dev.berth.cri.v1.ContainerEventResponse;
import dev.berth.cri.v1.ContainerEventType;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStats;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.ContainerStatusResponse;
import dev.berth.cri.v1.CpuUsage;
import dev.berth.cri.v1.FilesystemUsage;
import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.MemoryUsage;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PodSandboxStatus;
import dev.berth.cri.v1.RuntimeCondition;
import dev.berth.cri.v1.RuntimeStatus;
import dev.berth.cri.v1.StatusResponse;
import dev.berth.cri.v1.UInt64Value;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The query commands end to end in process against {@link FakeRuntime}: output shapes, filters, exit codes. */
class QueryCommandsTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final long NOW_NANOS = System.currentTimeMillis() * 1_000_000L;
    static final String POD_A = "a1".repeat(32);
    static final String POD_B = "b2".repeat(32);
    static final String CTR_1 = "c1".repeat(32);
    static final String CTR_2 = "c2".repeat(32);
    static final String CTR_3 = "d3".repeat(32);
    static final String IMAGE_ID = "sha256:" + "e4".repeat(32);

    @TempDir
    Path dir;

    FakeRuntime cri;

    @BeforeEach
    void start() throws Exception {
        cri = new FakeRuntime(dir);
        cri.pods.add(pod(POD_A, "web", "default", PodSandboxState.SANDBOX_READY, 3, "app", "web"));
        cri.pods.add(pod(POD_B, "db", "infra", PodSandboxState.SANDBOX_NOTREADY, 1, "app", "db"));
        cri.containers.add(container(CTR_1, POD_A, "nginx", ContainerState.CONTAINER_RUNNING, 5, "docker.io/library/nginx:1"));
        cri.containers.add(container(CTR_2, POD_A, "sidecar", ContainerState.CONTAINER_EXITED, 4, IMAGE_ID));
        cri.containers.add(container(CTR_3, POD_B, "postgres", ContainerState.CONTAINER_RUNNING, 2, "docker.io/library/postgres:16"));
        cri.images.add(Image.newBuilder().setId(IMAGE_ID).addRepoTags("docker.io/library/busybox:1.36")
                .addRepoDigests("docker.io/library/busybox@sha256:" + "f5".repeat(32)).setSize(4_261_000).build());
        cri.images.add(Image.newBuilder().setId("sha256:" + "0a".repeat(32)).addRepoDigests("localhost:5000/x@sha256:" + "99".repeat(32))
                .setSize(512).build());
    }

    @AfterEach
    void stop() throws Exception {
        cri.close();
    }

    static PodSandbox pod(String id, String name, String namespace, PodSandboxState state, int minutesAgo, String... labels) {
        PodSandbox.Builder b = PodSandbox.newBuilder().setId(id).setState(state).setCreatedAt(NOW_NANOS - minutesAgo * 60_000_000_000L)
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace(namespace).setAttempt(1));
        for (int i = 0; i < labels.length; i += 2) {
            b.putLabels(labels[i], labels[i + 1]);
        }
        return b.build();
    }

    static Container container(String id, String pod, String name, ContainerState state, int minutesAgo, String image) {
        return Container.newBuilder().setId(id).setPodSandboxId(pod).setState(state).setCreatedAt(NOW_NANOS - minutesAgo * 60_000_000_000L)
                .setMetadata(ContainerMetadata.newBuilder().setName(name)).setImage(ImageSpec.newBuilder().setImage(image))
                .setImageRef(image.startsWith("sha256:") ? image : "").putLabels("name", name).build();
    }

    static List<String> lines(String out) {
        return Arrays.stream(out.split("\n")).filter(l -> !l.isEmpty()).toList();
    }

    static List<String> column(String out, int n) {
        List<String> col = new ArrayList<>();
        for (String l : lines(out).subList(1, lines(out).size())) {
            col.add(l.split(" {3,}")[n]);
        }
        return col;
    }

    @Test
    void versionPrintsCrictlsFourLinesOrTheMessage() throws Exception {
        FakeRuntime.Result r = cri.run("version");
        assertEquals(0, r.exit(), r.toString());
        assertEquals("Version:  0.1.0\nRuntimeName:  fake\nRuntimeVersion:  1.2.3\nRuntimeApiVersion:  v1\n", r.out());
        JsonNode j = JSON.readTree(cri.run("version", "-o", "json").out());
        assertEquals("fake", j.get("runtimeName").asText());
        JsonNode y = new ObjectMapper(new YAMLFactory()).readTree(cri.run("version", "-o", "yaml").out());
        assertEquals("1.2.3", y.get("runtimeVersion").asText());
        FakeRuntime.Result bad = cri.run("version", "-o", "xml");
        assertEquals(ExitCodes.USAGE, bad.exit(), bad.toString());
        assertTrue(bad.err().contains("-o is table, json or yaml"), bad.toString());
    }

    @Test
    void infoShowsConditionsAndTheInfoMapParsed() throws Exception {
        cri.status = StatusResponse.newBuilder()
                .setStatus(RuntimeStatus.newBuilder().addConditions(RuntimeCondition.newBuilder().setType("RuntimeReady").setStatus(true)))
                .putInfo("config", "{\"root\":\"/var/lib/berth\",\"handlers\":[\"runc\"]}")
                .putInfo("note", "plain text").build();
        FakeRuntime.Result r = cri.run("info");
        assertEquals(0, r.exit(), r.toString());
        JsonNode j = JSON.readTree(r.out());
        assertEquals("RuntimeReady", j.get("status").get("conditions").get(0).get("type").asText());
        assertEquals("/var/lib/berth", j.get("config").get("root").asText(), "the info value is parsed, not a string");
        assertEquals("runc", j.get("config").get("handlers").get(0).asText());
        assertEquals("plain text", j.get("note").asText());
        assertEquals(ExitCodes.USAGE, cri.run("info", "-o", "table").exit());
    }

    @Test
    void podsListsNewestFirstWithCrictlsColumnsAndFilters() throws Exception {
        FakeRuntime.Result r = cri.run("pods");
        assertEquals(0, r.exit(), r.toString());
        List<String> l = lines(r.out());
        assertTrue(l.get(0).matches("POD ID +CREATED +STATE +NAME +NAMESPACE +ATTEMPT +RUNTIME"), l.get(0));
        assertEquals(List.of(POD_B.substring(0, 13), POD_A.substring(0, 13)), column(r.out(), 0), "newest first, short IDs");
        assertEquals(List.of("1 minute ago", "3 minutes ago"), column(r.out(), 1).stream().map(s -> s.replace("About a minute", "1 minute")).toList());
        assertEquals(List.of("NotReady", "Ready"), column(r.out(), 2));
        assertEquals(List.of("(default)", "(default)"), column(r.out(), 6));

        assertEquals(POD_A + "\n", cri.run("pods", "--name", "^w", "-q").out());
        assertEquals(POD_B + "\n", cri.run("pods", "--namespace", "inf", "-q").out());
        assertEquals(POD_A + "\n", cri.run("pods", "--state", "ready", "-q").out());
        assertEquals(POD_B + "\n", cri.run("pods", "--label", "app=db", "-q").out());
        assertEquals("", cri.run("pods", "--label", "app=db", "--label", "tier=x", "-q").out(), "every label must match");
        assertEquals(POD_A + "\n", cri.run("pods", "--id", "a1a1", "-q").out());
        assertEquals(POD_B + "\n", cri.run("pods", "--latest", "-q").out());
        assertEquals(POD_B + "\n" + POD_A + "\n", cri.run("pods", "--last", "5", "-q").out());
        assertTrue(cri.run("pods", "--no-trunc").out().contains(POD_A));

        JsonNode j = JSON.readTree(cri.run("pods", "--name", "web", "-o", "json").out());
        assertEquals(1, j.get("items").size());
        assertEquals(POD_A, j.get("items").get(0).get("id").asText());
        assertEquals("SANDBOX_READY", j.get("items").get(0).get("state").asText());

        assertEquals(ExitCodes.USAGE, cri.run("pods", "--state", "sleepy").exit());
        assertEquals(ExitCodes.USAGE, cri.run("pods", "--name", "(").exit());
        assertEquals(ExitCodes.USAGE, cri.run("pods", "--label", "novalue").exit());
    }

    @Test
    void psListsRunningContainersByDefaultAndResolvesThePodAndTheImage() throws Exception {
        FakeRuntime.Result r = cri.run("ps");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(lines(r.out()).get(0).matches("CONTAINER +IMAGE +CREATED +STATE +NAME +ATTEMPT +POD ID +POD"), r.out());
        assertEquals("CONTAINER_RUNNING", cri.containerFilters.get(0).state(), "the runtime is asked for running containers");
        assertEquals(List.of(CTR_3.substring(0, 13), CTR_1.substring(0, 13)), column(r.out(), 0), "running ones, newest first");
        assertEquals(List.of("postgres", "nginx"), column(r.out(), 4));
        assertEquals(List.of("db", "web"), column(r.out(), 7), "the pod's name from ListPodSandbox when there is no kubelet label");

        FakeRuntime.Result all = cri.run("ps", "-a");
        assertEquals(3, lines(all.out()).size() - 1, all.toString());
        assertTrue(all.out().contains("Exited"), all.out());
        assertTrue(all.out().contains(IMAGE_ID.substring(7, 20) + " "), "a digest image is shortened: " + all.out());

        assertEquals(CTR_2 + "\n" + CTR_1 + "\n", cri.run("ps", "-a", "--pod", "web", "-q").out(), "the pod by name");
        assertEquals(POD_A, cri.containerFilters.get(cri.containerFilters.size() - 1).podId(), "resolved to its ID for the filter");
        assertEquals(CTR_2 + "\n", cri.run("ps", "--state", "exited", "-q").out());
        assertEquals(CTR_3 + "\n", cri.run("ps", "--name", "gres$", "-q").out());
        assertEquals(CTR_1 + "\n", cri.run("ps", "--label", "name=nginx", "-q").out());
        assertEquals(CTR_1 + "\n", cri.run("ps", "--id", "c1c1", "-q").out());
        assertEquals(CTR_2 + "\n", cri.run("ps", "-a", "--image", "docker.io/library/busybox:1.36", "-q").out(), "the image by tag");
        assertEquals(CTR_2 + "\n", cri.run("ps", "--latest", "--image", IMAGE_ID, "-q").out(), "the image by ID, filtered before --latest cuts");
        assertEquals("", cri.run("ps", "-a", "--image", "nosuch:1", "-q").out());
        assertEquals(CTR_3 + "\n", cri.run("ps", "--latest", "-q").out(), "latest: the newest");
        assertEquals(CTR_2 + "\n", cri.run("ps", "--latest", "--pod", POD_A, "-q").out(), "latest: in any state");
        FakeRuntime.Result nopod = cri.run("ps", "--pod", "nosuch");
        assertEquals(ExitCodes.NOT_FOUND, nopod.exit(), nopod.toString());
        assertTrue(nopod.err().contains("no such pod: nosuch"), nopod.toString());

        JsonNode j = JSON.readTree(cri.run("ps", "-a", "-o", "json").out());
        assertEquals(3, j.get("containers").size());
        assertEquals(CTR_3, j.get("containers").get(0).get("id").asText(), "newest first in JSON too");
    }

    @Test
    void imagesShowsOneRowPerTagWithSizesDigestsAndNoneForUntagged() throws Exception {
        FakeRuntime.Result r = cri.run("images");
        assertEquals(0, r.exit(), r.toString());
        List<String> l = lines(r.out());
        assertTrue(l.get(0).matches("IMAGE +TAG +IMAGE ID +SIZE"), l.get(0));
        assertEquals(List.of("docker.io/library/busybox", "1.36", "e4e4e4e4e4e4e", "4.26MB"), Arrays.asList(l.get(1).split(" {3,}")));
        assertEquals(List.of("localhost:5000/x", "<none>", "0a0a0a0a0a0a0", "512B"), Arrays.asList(l.get(2).split(" {3,}")));
        List<String> d = lines(cri.run("images", "--digests").out());
        assertTrue(d.get(0).matches("IMAGE +TAG +DIGEST +IMAGE ID +SIZE"), d.get(0));
        assertEquals("f5f5f5f5f5f5f", d.get(1).split(" {3,}")[2]);
        assertEquals(IMAGE_ID + "\nsha256:" + "0a".repeat(32) + "\n", cri.run("images", "-q").out());
        JsonNode j = JSON.readTree(cri.run("images", "-o", "json").out());
        assertEquals("4261000", j.get("images").get(0).get("size").asText());
    }

    @Test
    void inspectPrintsWhatItFindsAndExitsNotFoundForTheRest() throws Exception {
        cri.statuses.add(ContainerStatusResponse.newBuilder()
                .setStatus(ContainerStatus.newBuilder().setId(CTR_1).setState(ContainerState.CONTAINER_RUNNING)
                        .setMetadata(ContainerMetadata.newBuilder().setName("nginx")))
                .putInfo("info", "{\"pid\":4242,\"runtimeSpec\":{\"ociVersion\":\"1.0.2\"}}").build());
        FakeRuntime.Result one = cri.run("inspect", "nginx");
        assertEquals(0, one.exit(), one.toString());
        JsonNode j = JSON.readTree(one.out());
        assertEquals(CTR_1, j.get("status").get("id").asText());
        assertEquals(4242, j.get("info").get("pid").asInt(), "the info value parsed");

        FakeRuntime.Result some = cri.run("inspect", "c1c1", "nosuch", "postgres");
        assertEquals(ExitCodes.NOT_FOUND, some.exit(), some.toString());
        JsonNode arr = JSON.readTree(some.out());
        assertTrue(arr.isArray() && arr.size() == 1, "the found one is printed: " + some);
        assertEquals(CTR_1, arr.get(0).get("status").get("id").asText());
        assertTrue(some.err().contains("berth inspect: no such container: nosuch"), some.toString());
        assertTrue(some.err().contains("postgres"), "the runtime's NOT_FOUND for a listed container is reported too: " + some);

        FakeRuntime.Result img = cri.run("inspecti", "docker.io/library/busybox:1.36", "-o", "yaml");
        assertEquals(0, img.exit(), img.toString());
        JsonNode y = new ObjectMapper(new YAMLFactory()).readTree(img.out());
        assertEquals(IMAGE_ID, y.get("status").get("id").asText());
        assertEquals("sha256:c0ffee", y.get("info").get("chainId").asText());
        assertEquals(ExitCodes.NOT_FOUND, cri.run("inspecti", "nosuch:1").exit());
        assertEquals(ExitCodes.NOT_FOUND, cri.run("inspectp", "nosuch").exit());
        assertEquals(ExitCodes.USAGE, cri.run("inspect").exit(), "a name is required");
    }

    static ContainerStats sample(String id, String name, long cpuNanos, long atNanos, long workingSet) {
        return ContainerStats.newBuilder()
                .setAttributes(ContainerAttributes.newBuilder().setId(id).setMetadata(ContainerMetadata.newBuilder().setName(name)))
                .setCpu(CpuUsage.newBuilder().setTimestamp(atNanos).setUsageCoreNanoSeconds(UInt64Value.newBuilder().setValue(cpuNanos)))
                .setMemory(MemoryUsage.newBuilder().setWorkingSetBytes(UInt64Value.newBuilder().setValue(workingSet)))
                .setWritableLayer(FilesystemUsage.newBuilder().setUsedBytes(UInt64Value.newBuilder().setValue(12_000))
                        .setInodesUsed(UInt64Value.newBuilder().setValue(7)))
                .build();
    }

    @Test
    void statsComputesCpuFromTwoSamplesAndShowsRunningContainersOnly() throws Exception {
        // 0.25 s of CPU in 1 s, then 1.5 s in 1 s (two cores busy)
        cri.samples.add(List.of(sample(CTR_1, "nginx", 1_000_000_000L, 10_000_000_000L, 2_000_000),
                sample(CTR_2, "sidecar", 0, 10_000_000_000L, 0)));
        cri.samples.add(List.of(sample(CTR_1, "nginx", 1_250_000_000L, 11_000_000_000L, 3_000_000),
                sample(CTR_2, "sidecar", 0, 11_000_000_000L, 0)));
        cri.samples.add(List.of(sample(CTR_1, "nginx", 2_750_000_000L, 12_000_000_000L, 3_000_000)));
        FakeRuntime.Result r = cri.run("stats", "--count", "2");
        assertEquals(0, r.exit(), r.toString());
        String[] tables = r.out().split("\n\n");
        assertEquals(2, tables.length, "two tables one below the other when not on a terminal: " + r.out());
        List<String> first = lines(tables[0]);
        assertTrue(first.get(0).matches("CONTAINER +NAME +CPU % +MEM +DISK +INODES"), first.get(0));
        assertEquals(List.of(CTR_1.substring(0, 13), "nginx", "25.00", "3MB", "12kB", "7"), Arrays.asList(first.get(1).split(" {3,}")));
        assertEquals(2, first.size(), "the exited container is left out without -a: " + r.out());
        assertEquals("150.00", lines(tables[1]).get(1).split(" {3,}")[2]);
        assertFalse(r.out().contains(StatsCommand.CLEAR), "no terminal control when not on a terminal");
    }

    @Test
    void eventsPrintsOneLinePerEventAndStopsAtCountOrStreamEnd() throws Exception {
        PodSandboxStatus podStatus = PodSandboxStatus.newBuilder().setId(POD_A)
                .setMetadata(PodSandboxMetadata.newBuilder().setName("web").setNamespace("default")).build();
        cri.events = List.of(
                ContainerEventResponse.newBuilder().setContainerId(POD_A).setContainerEventType(ContainerEventType.CONTAINER_STARTED_EVENT)
                        .setCreatedAt(NOW_NANOS).setPodSandboxStatus(podStatus).build(),
                ContainerEventResponse.newBuilder().setContainerId(CTR_1).setContainerEventType(ContainerEventType.CONTAINER_CREATED_EVENT)
                        .setCreatedAt(NOW_NANOS).setPodSandboxStatus(podStatus)
                        .addContainersStatuses(ContainerStatus.newBuilder().setId(CTR_1).setMetadata(ContainerMetadata.newBuilder().setName("ng\u001b[2Jinx")))
                        .build());
        FakeRuntime.Result all = cri.run("events");
        assertEquals(0, all.exit(), "the stream's end ends the command: " + all);
        List<String> l = lines(all.out());
        assertEquals(2, l.size(), all.toString());
        assertTrue(l.get(0).matches("\\S+  STARTED  " + POD_A.substring(0, 13) + "  \\(sandbox\\)  pod " + POD_A.substring(0, 13) + " \\(default/web\\)"), l.get(0));
        assertTrue(l.get(1).contains("CREATED  " + CTR_1.substring(0, 13) + "  ng?[2Jinx  pod"), "a hostile name cannot drive the terminal: " + l.get(1));

        FakeRuntime.Result one = cri.run("events", "--count", "1", "-o", "json");
        assertEquals(0, one.exit(), one.toString());
        assertEquals(1, lines(one.out()).size(), one.toString());
        JsonNode j = JSON.readTree(one.out());
        assertEquals("CONTAINER_STARTED_EVENT", j.get("containerEventType").asText());

        cri.events = null;
        FakeRuntime.Result unimplemented = cri.run("events");
        assertEquals(ExitCodes.UNIMPLEMENTED, unimplemented.exit(), unimplemented.toString());
        assertTrue(unimplemented.err().contains("does not implement container events"), unimplemented.toString());
    }

    @Test
    void completionScriptCompletesTheClientCommands() {
        StringWriterResult r = completion("bash");
        assertEquals(0, r.exit);
        for (String c : List.of("version", "info", "pods", "ps", "images", "inspect", "inspectp", "inspecti", "stats", "events", "completion")) {
            assertTrue(r.out.contains(c), c + " missing");
        }
        assertTrue(r.out.contains("complete -F"), "a bash completion function is registered");
        assertEquals(r.out, completion("zsh").out, "zsh loads the same script through bashcompinit");
        assertEquals(ExitCodes.USAGE, completion("fish").exit);
    }

    record StringWriterResult(int exit, String out) {
    }

    static StringWriterResult completion(String shell) {
        java.io.StringWriter out = new java.io.StringWriter();
        int exit = dev.berth.cli.Main.commandLine().setOut(new java.io.PrintWriter(out, true)).setErr(new java.io.PrintWriter(new java.io.StringWriter()))
                .execute("completion", shell);
        return new StringWriterResult(exit, out.toString());
    }

    @Test
    void anUnreachableRuntimeExitsWithUnreachable() {
        java.io.StringWriter err = new java.io.StringWriter();
        int exit = dev.berth.cli.Main.commandLine().setErr(new java.io.PrintWriter(err, true))
                .execute("ps", "-r", "unix://" + dir.resolve("none.sock"));
        assertEquals(ExitCodes.UNREACHABLE, exit, err.toString());
    }
}
