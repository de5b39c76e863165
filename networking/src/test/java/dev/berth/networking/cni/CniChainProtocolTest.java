package dev.berth.networking.cni;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.Json;
import dev.berth.networking.PodNetwork;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CNI 1.1 protocol as a plugin sees it: a chain of two recording plugins (a shell script
 * that logs its environment and stdin) on a real namespace, through ADD, CHECK, DEL, STATUS
 * and GC. Debian's plugins speak 1.0 only, so STATUS and GC are exercised here.
 */
@Tag("root")
class CniChainProtocolTest {
    @TempDir
    Path tmp;
    private Path log;
    private Path statusDown;
    private CniPodNetwork net;

    @BeforeEach
    void setUp() throws IOException {
        log = Files.createDirectories(tmp.resolve("log"));
        statusDown = tmp.resolve("status-down");
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        String script = """
                #!/bin/sh
                n=$(ls %1$s | wc -l)
                f=%1$s/$(printf %%04d $n)-$CNI_COMMAND-$(basename $0)
                env | grep '^CNI_' | sort > $f.env
                cat > $f.in
                case "$CNI_COMMAND" in
                  VERSION) echo '{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}' ;;
                  ADD) echo '{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"'$CNI_NETNS'"}],"ips":[{"interface":0,"address":"10.199.77.5/24"}]}' ;;
                  STATUS) if [ -e %2$s ]; then echo '{"cniVersion":"1.1.0","code":50,"msg":"the test says the network is down"}'; exit 1; fi ;;
                esac
                exit 0
                """.formatted(log, statusDown);
        for (String name : List.of("berth-rec-a", "berth-rec-b")) {
            Path p = bin.resolve(name);
            Files.writeString(p, script);
            p.toFile().setExecutable(true);
        }
        Path conf = Files.createDirectories(tmp.resolve("net.d"));
        Files.writeString(conf.resolve("10-rec.conflist"), """
                {"cniVersion":"1.1.0","name":"rec","plugins":[
                  {"type":"berth-rec-a","capabilities":{"portMappings":true,"cgroupPath":true}},
                  {"type":"berth-rec-b","capabilities":{"bandwidth":true},"custom":"kept"}]}""");
        List<Path> dirs = new ArrayList<>(List.of(bin));
        dirs.addAll(BridgeFixture.PLUGIN_DIRS);
        net = new CniPodNetwork(new CniPodNetwork.Settings(conf, dirs, tmp.resolve("cache"), Duration.ofSeconds(30), null));
    }

    /** The recorded calls, in order, skipping VERSION probes: [command, plugin, env, stdin]. */
    private List<Call> calls() throws IOException {
        List<Call> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(log)) {
            for (Path p : s.filter(p -> p.toString().endsWith(".in")).sorted().toList()) {
                String[] parts = p.getFileName().toString().replace(".in", "").split("-", 3);
                if (parts[1].equals("VERSION")) {
                    continue;
                }
                Map<String, String> env = new HashMap<>();
                Files.readAllLines(Path.of(p.toString().replace(".in", ".env"))).forEach(l -> {
                    int eq = l.indexOf('=');
                    env.put(l.substring(0, eq), l.substring(eq + 1));
                });
                out.add(new Call(parts[1], parts[2], env, Json.mapper().readTree(Files.readString(p))));
            }
        }
        return out;
    }

    private record Call(String command, String plugin, Map<String, String> env, JsonNode stdin) {
    }

    private void clearLog() throws IOException {
        try (Stream<Path> s = Files.list(log)) {
            for (Path p : s.toList()) {
                Files.delete(p);
            }
        }
    }

    @Test
    void addChecksAndDeletesThroughTheChainWithPrevResultEnvironmentAndRuntimeConfig() throws Exception {
        try (TestNetns ns = TestNetns.create()) {
            PodNetwork.PodAttachment pod = new PodNetwork.PodAttachment("rec-1", "web", "shop", "uid-9", ns.path,
                    List.of(new PodNetwork.PortMapping("tcp", 80, 8080, "")), Map.of("kubernetes.io/egress-bandwidth", "1M"), "/kubepods/pod-9");
            assertTrue(net.readiness().ready(), net.readiness().message());
            clearLog();
            PodNetwork.PodNetworkStatus status = net.attach(pod);
            assertEquals(List.of("10.199.77.5"), status.ips());
            assertTrue(ns.exec("ip", "-o", "link", "show", "lo").ok().out().contains("LOOPBACK,UP"), "lo is up (brought up by berth before the chain)");

            List<Call> add = calls().stream().filter(c -> c.command().equals("ADD")).toList();
            assertEquals(List.of("berth-rec-a", "berth-rec-b"), add.stream().map(Call::plugin).toList());
            Call a = add.get(0);
            Call b = add.get(1);
            assertEquals("rec-1", a.env().get("CNI_CONTAINERID"));
            assertEquals(ns.path.toString(), a.env().get("CNI_NETNS"));
            assertEquals("eth0", a.env().get("CNI_IFNAME"));
            assertEquals("IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=rec-1;K8S_POD_UID=uid-9",
                    a.env().get("CNI_ARGS"));
            assertTrue(a.env().get("CNI_PATH").startsWith(tmp.resolve("bin") + ":"), a.env().get("CNI_PATH"));
            assertEquals("rec", a.stdin().get("name").asText());
            assertEquals("1.1.0", a.stdin().get("cniVersion").asText());
            assertFalse(a.stdin().has("prevResult"));
            assertEquals(8080, a.stdin().at("/runtimeConfig/portMappings/0/hostPort").asInt());
            assertEquals("/kubepods/pod-9", a.stdin().at("/runtimeConfig/cgroupPath").asText());
            assertFalse(a.stdin().at("/runtimeConfig").has("bandwidth"));
            assertEquals("10.199.77.5/24", b.stdin().at("/prevResult/ips/0/address").asText());
            assertEquals(1_000_000, b.stdin().at("/runtimeConfig/bandwidth/egressRate").asLong());
            assertFalse(b.stdin().at("/runtimeConfig").has("portMappings"));
            assertEquals("kept", b.stdin().get("custom").asText());

            clearLog();
            net.check(pod);
            List<Call> check = calls();
            assertEquals(List.of("CHECK:berth-rec-a", "CHECK:berth-rec-b"), check.stream().map(c -> c.command() + ":" + c.plugin()).toList());
            assertEquals("10.199.77.5/24", check.get(0).stdin().at("/prevResult/ips/0/address").asText());

            clearLog();
            PodNetwork.PodAttachment other = new PodNetwork.PodAttachment("rec-2", "db", "shop", "uid-10", ns.path, List.of(), Map.of(), "");
            net.attach(other);
            clearLog();
            net.garbageCollect(Set.of("rec-2"));
            List<Call> gc = calls();
            assertEquals(List.of("DEL:berth-rec-b", "DEL:berth-rec-a", "GC:berth-rec-a", "GC:berth-rec-b"),
                    gc.stream().map(c -> c.command() + ":" + c.plugin()).toList());
            assertEquals("rec-1", gc.get(0).env().get("CNI_CONTAINERID"));
            assertEquals("10.199.77.5/24", gc.get(0).stdin().at("/prevResult/ips/0/address").asText(), "DEL gets the cached result");
            assertEquals(8080, gc.get(1).stdin().at("/runtimeConfig/portMappings/0/hostPort").asInt(), "DEL gets the same runtimeConfig");
            JsonNode valid = gc.get(2).stdin().get("cni.dev/valid-attachments");
            assertEquals(1, valid.size());
            assertEquals("rec-2", valid.get(0).get("containerID").asText());
            assertEquals("eth0", valid.get(0).get("ifname").asText());
            assertFalse(gc.get(2).env().containsKey("CNI_CONTAINERID"), "GC is not about one container");

            clearLog();
            net.detach(other);
            net.detach(other);
            assertEquals(List.of("DEL:berth-rec-b", "DEL:berth-rec-a"), calls().stream().map(c -> c.command() + ":" + c.plugin()).toList(),
                    "a second detach finds nothing to do");
        }
    }

    @Test
    void statusOfAOneDotOnePluginDecidesNetworkReady() throws Exception {
        assertTrue(net.readiness().ready(), net.readiness().message());
        assertTrue(calls().stream().anyMatch(c -> c.command().equals("STATUS")));
        Files.writeString(statusDown, "");
        PodNetwork.NetworkReadiness r = net.readiness();
        assertFalse(r.ready());
        assertTrue(r.message().contains("the test says the network is down") && r.message().contains("berth-rec-a")
                && r.message().contains("code 50"), r.message());
    }
}
