package dev.berth.networking.cni;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.networking.PodNetwork.NetworkReadiness;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** NetworkReady and config selection with the real plugin directory, without creating any network. */
@Tag("root")
class CniReadinessTest {
    @TempDir
    Path tmp;

    private CniPodNetwork network(Path confDir, List<Path> binDirs, CniPodNetwork.DefaultNetworkSettings def) {
        return new CniPodNetwork(new CniPodNetwork.Settings(confDir, binDirs, tmp.resolve("cache"), Duration.ofSeconds(30), def));
    }

    private CniPodNetwork network(Path confDir) {
        return network(confDir, BridgeFixture.PLUGIN_DIRS, null);
    }

    @Test
    void noConfigWithTheDefaultNetworkOffIsNotReady() {
        NetworkReadiness r = network(tmp.resolve("net.d")).readiness();
        assertFalse(r.ready());
        assertEquals("NetworkPluginNotReady", r.reason());
        assertTrue(r.message().contains("no CNI network config") && r.message().contains(tmp.resolve("net.d").toString()), r.message());
    }

    @Test
    void aBrokenConfigIsNotReadyAndTheReasonNamesTheFile() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("net.d"));
        Files.writeString(dir.resolve("10-broken.conflist"), "{ \"cniVersion\": \"1.0.0\", \"name\": ");
        NetworkReadiness r = network(dir).readiness();
        assertFalse(r.ready());
        assertTrue(r.message().contains("10-broken.conflist") && r.message().contains("not valid JSON"), r.message());
    }

    @Test
    void aMissingPluginIsNotReadyAndTheReasonNamesThePluginAndTheDirectories() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("net.d"));
        Files.writeString(dir.resolve("10-net.conflist"), """
                {"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge"},{"type":"berth-no-such-plugin"}]}
                """);
        NetworkReadiness r = network(dir).readiness();
        assertFalse(r.ready());
        assertTrue(r.message().contains("berth-no-such-plugin") && r.message().contains("/usr/lib/cni")
                && r.message().contains("10-net.conflist"), r.message());
    }

    @Test
    void theLoopbackPluginIsNotNeededBecauseBerthBringsLoUpItself() throws Exception {
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Files.copy(Path.of("/usr/lib/cni/bridge"), bin.resolve("bridge"));
        Path dir = Files.createDirectories(tmp.resolve("net.d"));
        Files.writeString(dir.resolve("10-net.conf"), "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"bridge\"}");
        NetworkReadiness r = network(dir, List.of(bin), null).readiness();
        assertTrue(r.ready(), r.message());
    }

    @Test
    void theLexicographicallyFirstValidNetworkWinsAndASingleConfIsAChainOfOne() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("net.d"));
        Files.writeString(dir.resolve("05-broken.conflist"), "not json");
        Files.writeString(dir.resolve("10-nover.conf"), "{\"name\":\"x\",\"type\":\"bridge\"}");
        Files.writeString(dir.resolve("20-single.conf"), "{\"cniVersion\":\"0.4.0\",\"name\":\"single\",\"type\":\"bridge\"}");
        Files.writeString(dir.resolve("30-list.conflist"), "{\"cniVersion\":\"1.0.0\",\"name\":\"list\",\"plugins\":[{\"type\":\"bridge\"}]}");
        Files.writeString(dir.resolve("README"), "not a config");
        CniConfigDirectory cd = new CniConfigDirectory(dir);
        CniConfigDirectory.Snapshot s = cd.current();
        assertEquals("single", s.network().orElseThrow().name());
        assertEquals("0.4.0", s.network().orElseThrow().cniVersion());
        assertEquals(List.of("bridge"), s.network().orElseThrow().pluginTypes());
        assertEquals(2, s.problems().size(), s.problems().toString());
        assertTrue(network(dir).readiness().ready());

        Files.writeString(dir.resolve("01-newer.json"), "{\"cniVersion\":\"1.0.0\",\"name\":\"newer\",\"plugins\":[{\"type\":\"portmap\"}]}");
        assertEquals("newer", cd.current().network().orElseThrow().name(), "a new file is picked up");
        Files.writeString(dir.resolve("01-newer.json"), "{\"cniVersion\":\"1.0.0\",\"name\":\"changed\",\"plugins\":[{\"type\":\"portmap\"}]}");
        assertEquals("changed", cd.current().network().orElseThrow().name(), "a changed file is picked up");
    }

    @Test
    void anUnsupportedVersionIsNotReady() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("net.d"));
        Files.writeString(dir.resolve("10-old.conf"), "{\"cniVersion\":\"0.2.0\",\"name\":\"x\",\"type\":\"bridge\"}");
        NetworkReadiness r = network(dir).readiness();
        assertFalse(r.ready());
        assertTrue(r.message().contains("0.2.0") && r.message().contains("10-old.conf"), r.message());
    }

    @Test
    void aPluginThatDoesNotSpeakTheConfigsVersionIsNotReady() throws Exception {
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Path script = bin.resolve("berth-test-old");
        Files.writeString(script, "#!/bin/sh\necho '{\"cniVersion\":\"0.4.0\",\"supportedVersions\":[\"0.3.1\",\"0.4.0\"]}'\n");
        script.toFile().setExecutable(true);
        Path dir = Files.createDirectories(tmp.resolve("net.d"));
        Files.writeString(dir.resolve("10-net.conflist"), "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"berth-test-old\"}]}");
        List<Path> dirs = new ArrayList<>(List.of(bin));
        dirs.addAll(BridgeFixture.PLUGIN_DIRS);
        NetworkReadiness r = network(dir, dirs, null).readiness();
        assertFalse(r.ready());
        assertTrue(r.message().contains("berth-test-old") && r.message().contains("1.0.0"), r.message());
    }

    @Test
    void theDefaultNetworkIsWrittenIntoAnEmptyDirectoryAndFollowsThePodCidr() throws Exception {
        Path dir = tmp.resolve("net.d");
        CniPodNetwork.DefaultNetworkSettings def = new CniPodNetwork.DefaultNetworkSettings("berthdef", "berthdef0", "10.198.0.0/16",
                tmp.resolve("ipam"), "99-berth-default.conflist");
        CniPodNetwork net = network(dir, BridgeFixture.PLUGIN_DIRS, def);
        assertTrue(net.readiness().ready(), net.readiness().message());
        Path file = dir.resolve("99-berth-default.conflist");
        JsonNode conf = Json.mapper().readTree(file.toFile());
        assertEquals("berthdef", conf.get("name").asText());
        JsonNode bridge = conf.get("plugins").get(0);
        assertEquals("bridge", bridge.get("type").asText());
        assertEquals("berthdef0", bridge.get("bridge").asText());
        assertTrue(bridge.get("isGateway").asBoolean() && bridge.get("hairpinMode").asBoolean());
        assertFalse(bridge.get("ipMasq").asBoolean(), "berth masquerades the subnet itself, not the bridge plugin per pod");
        assertEquals("[\"10.198.0.0/16\"]", conf.get("berthMasquerade").toString());
        assertEquals("host-local", bridge.at("/ipam/type").asText());
        assertEquals(tmp.resolve("ipam").toString(), bridge.at("/ipam/dataDir").asText());
        assertEquals("10.198.0.0/16", bridge.at("/ipam/ranges/0/0/subnet").asText());
        assertEquals("portmap", conf.get("plugins").get(1).get("type").asText());
        assertTrue(conf.get("plugins").get(1).at("/capabilities/portMappings").asBoolean());

        net.setPodCidrs(List.of("10.197.3.0/24", "fd00:10:197::/64"));
        conf = Json.mapper().readTree(file.toFile());
        assertEquals("10.197.3.0/24", conf.at("/plugins/0/ipam/ranges/0/0/subnet").asText());
        assertEquals("fd00:10:197::/64", conf.at("/plugins/0/ipam/ranges/1/0/subnet").asText());
        assertEquals("::/0", conf.at("/plugins/0/ipam/routes/1/dst").asText());
        assertEquals("[\"10.197.3.0/24\",\"fd00:10:197::/64\"]", conf.get("berthMasquerade").toString());

        String operators = "{\"cniVersion\":\"1.0.0\",\"name\":\"ops\",\"plugins\":[{\"type\":\"bridge\"}]}";
        Files.writeString(file, operators);
        net.setPodCidrs(List.of("10.197.4.0/24"));
        assertEquals(operators, Files.readString(file), "an operator's file is never rewritten");
    }

    @Test
    void aPluginThatRunsPastTheTimeoutIsKilled() throws Exception {
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Path pidFile = tmp.resolve("plugin.pid");
        Path script = bin.resolve("berth-test-slow");
        Files.writeString(script, """
                #!/bin/sh
                case "$CNI_COMMAND" in
                  ADD) echo $$ > %s; exec sleep 600 ;;
                  VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}' ;;
                esac
                exit 0
                """.formatted(pidFile));
        script.toFile().setExecutable(true);
        Path dir = Files.createDirectories(tmp.resolve("net.d"));
        Files.writeString(dir.resolve("10-slow.conflist"), "{\"cniVersion\":\"1.0.0\",\"name\":\"slow\",\"plugins\":[{\"type\":\"berth-test-slow\"}]}");
        List<Path> dirs = new ArrayList<>(List.of(bin));
        dirs.addAll(BridgeFixture.PLUGIN_DIRS);
        CniPodNetwork net = new CniPodNetwork(new CniPodNetwork.Settings(dir, dirs, tmp.resolve("cache"), Duration.ofSeconds(1), null));
        try (TestNetns ns = TestNetns.create()) {
            BerthException e = assertThrows(BerthException.class, () -> net.attach(BridgeFixture.pod("slow", ns, List.of())));
            assertEquals(BerthException.Kind.DEADLINE_EXCEEDED, e.kind());
            assertTrue(e.getMessage().contains("berth-test-slow") && e.getMessage().contains("killed"), e.getMessage());
            long pid = Long.parseLong(Files.readString(pidFile).trim());
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the plugin process is gone");
            assertFalse(Files.exists(tmp.resolve("cache/slow.json")));
        }
    }

    @Test
    void attachingWithoutANamespaceOrWithABadIdIsAnInvalidArgument() throws Exception {
        CniPodNetwork net = network(tmp.resolve("net.d"));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT,
                assertThrows(BerthException.class, () -> net.attach(BridgeFixture.pod("no-ns", null, List.of()))).kind());
        assertEquals(BerthException.Kind.INVALID_ARGUMENT,
                assertThrows(BerthException.class, () -> net.attach(BridgeFixture.pod("../evil", null, List.of()))).kind());
        try (TestNetns ns = TestNetns.create()) {
            BerthException e = assertThrows(BerthException.class, () -> net.attach(BridgeFixture.pod("not-ready", ns, List.of())));
            assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind());
            assertTrue(e.getMessage().contains("no CNI network config"), e.getMessage());
        }
    }
}
