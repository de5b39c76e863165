package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The query commands of {@code berth} (version, info, pods, ps, images, inspect*, stats,
 * events, completion) against a real berth with two pods and their containers: tables, JSON
 * parsed back, filters, and the exit code of a missing object. Most run in process; version,
 * a failing inspect and completion run through the launcher as an operator runs them.
 */
@Tag("root")
class CliQueryE2eTest {
    private static final String BRIDGE = "berthcq0";
    private static final String SUBNET = "10.196.144.0/20";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void queryCommandsShowWhatTheRuntimeHas() throws Exception {
        Path config = Files.writeString(dir.resolve("daemon.toml"), BerthProcess.networkToml(dir, BRIDGE, SUBNET));
        BerthProcess berth = null;
        try {
            berth = BerthProcess.start(dir.resolve("berth"), "--config", config.toString(), "--metrics-address", "");
            try {
                check(berth);
            } finally {
                for (PodSandbox p : berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                    berth.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                    berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                }
            }
        } finally {
            if (berth != null) {
                berth.close();
            }
            for (long pid : ContainerE2eTest.processesMentioning(dir.toString())) {
                new ProcessBuilder("kill", "-KILL", Long.toString(pid)).start().waitFor();
            }
            List<String> left = PodSandboxE2eTest.mountsUnder(dir);
            for (int i = left.size() - 1; i >= 0; i--) {
                new ProcessBuilder("umount", "--lazy", left.get(i)).start().waitFor();
            }
            // the daemon's default network made the bridge; nothing else removes it
            new ProcessBuilder("ip", "link", "delete", BRIDGE).start().waitFor();
        }
    }

    private void check(BerthProcess berth) throws Exception {
        String imageId = importBusybox(berth);
        BerthCli cli = new BerthCli(berth.socket());
        Path logs = dir.resolve("logs");
        String web = runPod(berth, "cq-web", logs, "tier", "front");
        String db = runPod(berth, "cq-db", logs, "tier", "back");
        String server = start(berth, web, "server");
        String sidecar = start(berth, web, "sidecar");
        String store = start(berth, db, "store");
        berth.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(sidecar).setTimeout(0).build());

        // version through the launcher: the real process and its exit code
        BerthCli.Result version = cli.launch(null, Map.of(), 60, "version");
        assertEquals(0, version.exit(), version.toString());
        assertTrue(version.out().contains("RuntimeName:  berth\n") && version.out().contains("RuntimeApiVersion:  v1\n"), version.toString());

        BerthCli.Result info = ok(cli.run("info"));
        JsonNode status = JSON.readTree(info.out());
        assertTrue(status.get("status").get("conditions").findValues("type").stream().anyMatch(t -> t.asText().equals("RuntimeReady")), info.out());
        assertTrue(status.get("config").get("root").asText().startsWith(dir.toString()), "the info map's JSON is parsed: " + info.out());

        // pods
        BerthCli.Result pods = ok(cli.run("pods"));
        assertTrue(lines(pods.out()).get(0).matches("POD ID +CREATED +STATE +NAME +NAMESPACE +ATTEMPT +RUNTIME"), pods.out());
        assertEquals(List.of("cq-db", "cq-web"), column(pods.out(), 3), "newest first: " + pods.out());
        assertEquals(List.of("Ready", "Ready"), column(pods.out(), 2), pods.out());
        JsonNode podsJson = JSON.readTree(ok(cli.run("pods", "-o", "json")).out());
        assertEquals(2, podsJson.get("items").size(), podsJson.toString());
        assertEquals(db, podsJson.get("items").get(0).get("id").asText());
        assertEquals(web + "\n", ok(cli.run("pods", "--label", "tier=front", "-q")).out());
        assertEquals(db + "\n", ok(cli.run("pods", "--name", "db$", "-q")).out());
        assertEquals("", ok(cli.run("pods", "--state", "notready", "-q")).out());

        // ps
        BerthCli.Result ps = ok(cli.run("ps"));
        assertTrue(lines(ps.out()).get(0).matches("CONTAINER +IMAGE +CREATED +STATE +NAME +ATTEMPT +POD ID +POD"), ps.out());
        assertEquals(List.of("store", "server"), column(ps.out(), 4), "running ones, newest first: " + ps.out());
        assertEquals(List.of("cq-db", "cq-web"), column(ps.out(), 7), ps.out());
        assertEquals(List.of(db.substring(0, 13), web.substring(0, 13)), column(ps.out(), 6), ps.out());
        assertEquals(sidecar + "\n" + server + "\n", ok(cli.run("ps", "-a", "--pod", "cq-web", "-q")).out(), "the pod by name, in any state");
        assertEquals(sidecar + "\n", ok(cli.run("ps", "--state", "exited", "-q")).out());
        assertEquals(store + "\n", ok(cli.run("ps", "--name", "^st", "-q")).out());
        assertEquals(3, ok(cli.run("ps", "-a", "--image", ContainerE2eTest.IMAGE, "-q")).out().lines().count());
        JsonNode psJson = JSON.readTree(ok(cli.run("ps", "-a", "-o", "json")).out());
        assertEquals(3, psJson.get("containers").size());
        assertEquals("CONTAINER_EXITED", psJson.get("containers").get(1).get("state").asText(), psJson.toString());

        // images
        BerthCli.Result images = ok(cli.run("images"));
        assertTrue(images.out().lines().anyMatch(l -> l.matches("docker\\.io/e2e/busybox +1 +" + imageId.substring(7, 20) + " +\\S+B")), images.out());
        assertTrue(lines(ok(cli.run("images", "--digests")).out()).get(0).matches("IMAGE +TAG +DIGEST +IMAGE ID +SIZE"));
        JsonNode imagesJson = JSON.readTree(ok(cli.run("images", "-o", "json")).out());
        assertEquals(imageId, imagesJson.get("images").get(0).get("id").asText(), imagesJson.toString());

        // inspect, inspectp, inspecti
        JsonNode inspect = JSON.readTree(ok(cli.run("inspect", "server")).out());
        assertEquals(server, inspect.get("status").get("id").asText());
        assertEquals("CONTAINER_RUNNING", inspect.get("status").get("state").asText());
        assertTrue(inspect.get("info").isObject(), "the verbose info is parsed: " + inspect);
        assertEquals(web, JSON.readTree(ok(cli.run("inspectp", web.substring(0, 8))).out()).get("status").get("id").asText());
        assertEquals(imageId, JSON.readTree(ok(cli.run("inspecti", ContainerE2eTest.IMAGE)).out()).get("status").get("id").asText());
        BerthCli.Result some = cli.run("inspect", "store", "no-such-container");
        assertEquals(3, some.exit(), some.toString());
        assertEquals(store, JSON.readTree(some.out()).get(0).get("status").get("id").asText(), "the found one is printed: " + some);
        BerthCli.Result missing = cli.launch(null, Map.of(), 60, "inspect", "no-such-container");
        assertEquals(3, missing.exit(), missing.toString());
        assertTrue(missing.err().contains("no such container: no-such-container"), missing.toString());

        // stats: one table (two samples a second apart), and JSON
        BerthCli.Result stats = ok(cli.run("stats"));
        assertTrue(lines(stats.out()).get(0).matches("CONTAINER +NAME +CPU % +MEM +DISK +INODES"), stats.out());
        assertEquals(List.of("server", "store"), column(stats.out(), 1), "running containers: " + stats.out());
        assertTrue(column(stats.out(), 2).stream().allMatch(c -> c.matches("\\d+\\.\\d\\d")), stats.out());
        JsonNode statsJson = JSON.readTree(ok(cli.run("stats", "server", "-o", "json")).out());
        assertEquals(server, statsJson.get("stats").get(0).get("attributes").get("id").asText(), statsJson.toString());

        // events: what the client sees of containers this test starts (until it has three events:
        // in any three in a row of created, started, created, started... one is a start)
        CompletableFuture<BerthCli.Result> events = CompletableFuture.supplyAsync(() -> cli.run("events", "--count", "3", "-o", "json"));
        List<String> started = new ArrayList<>();
        for (int i = 0; i < 10 && !events.isDone(); i++) {
            started.add(start(berth, db, "evented-" + i));
            try {
                events.get(3, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                // not subscribed yet when that container started: start another
            }
        }
        BerthCli.Result seen = ok(events.get(60, TimeUnit.SECONDS));
        List<JsonNode> evs = new ArrayList<>();
        for (String l : lines(seen.out())) {
            evs.add(JSON.readTree(l));
        }
        assertEquals(3, evs.size(), seen.toString());
        assertTrue(evs.stream().anyMatch(e -> e.get("containerEventType").asText().equals("CONTAINER_STARTED_EVENT")
                && started.contains(e.get("containerId").asText()) && e.get("podSandboxStatus").get("id").asText().equals(db)), seen.out());

        // completion through the launcher, as an operator loads it
        Process completion = new ProcessBuilder(BerthProcess.launcher().toString(), "completion", "bash").redirectErrorStream(true).start();
        String script = new String(completion.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(completion.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, completion.exitValue(), script);
        for (String c : List.of("version", "info", "pods", "ps", "images", "inspect", "inspectp", "inspecti", "stats", "events", "completion")) {
            assertTrue(script.contains(" " + c), c + " missing from the completion script");
        }
        assertTrue(script.contains("complete -F"), script);
    }

    private static BerthCli.Result ok(BerthCli.Result r) {
        assertEquals(0, r.exit(), r.toString());
        return r;
    }

    private static List<String> lines(String out) {
        return Arrays.stream(out.split("\n")).filter(l -> !l.isEmpty()).toList();
    }

    /** The n-th column of a table's rows (columns are at least three spaces apart). */
    private static List<String> column(String out, int n) {
        List<String> l = lines(out);
        return l.subList(1, l.size()).stream().map(r -> r.split(" {3,}")[n]).toList();
    }

    private static String runPod(BerthProcess berth, String name, Path logs, String... labels) {
        RunPodSandboxRequest r = ContainerE2eTest.pod(name, logs);
        var config = r.getConfig().toBuilder();
        for (int i = 0; i < labels.length; i += 2) {
            config.putLabels(labels[i], labels[i + 1]);
        }
        return berth.runtime().runPodSandbox(r.toBuilder().setConfig(config).build()).getPodSandboxId();
    }

    private static String start(BerthProcess berth, String pod, String name) {
        CreateContainerRequest r = ContainerE2eTest.request(pod, name, name + "/0.log");
        String id = berth.runtime().createContainer(r).getContainerId();
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        return id;
    }

    /** A busybox image imported with {@code berth image import} into the daemon's store; its ID. */
    private String importBusybox(BerthProcess berth) throws Exception {
        Path archive = dir.resolve("busybox.tar");
        TestLayer layer = TestLayer.busybox();
        for (String applet : List.of("echo", "sleep")) {
            layer.symlink("bin/" + applet, "busybox");
        }
        TestImage.of(layer.build(TestLayer.Compression.NONE)).writeDockerSave(archive, "e2e/busybox:1");
        Process p = new ProcessBuilder(BerthProcess.launcher().toString(), "image", "import", archive.toString(),
                "--root", berth.root().toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out.strip().split("\\s+")[0];
    }
}
