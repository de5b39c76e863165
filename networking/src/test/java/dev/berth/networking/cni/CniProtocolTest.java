package dev.berth.networking.cni;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.networking.PodNetwork;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** What berth puts on a plugin's stdin and environment, and what it reads from a result. */
class CniProtocolTest {
    private static NetworkConfigList list(String json) {
        return NetworkConfigList.parse(json.getBytes(StandardCharsets.UTF_8), true, "test");
    }

    private static PodNetwork.PodAttachment pod(Map<String, String> annotations, List<PodNetwork.PortMapping> ports) {
        return new PodNetwork.PodAttachment("sb1", "web", "default", "uid-1", Path.of("/run/netns/x"), ports, annotations, "/kubepods/pod1");
    }

    @Test
    void runtimeConfigReachesOnlyPluginsThatDeclareTheCapability() {
        NetworkConfigList net = list("""
                {"cniVersion":"1.0.0","name":"n","plugins":[
                  {"type":"bridge"},
                  {"type":"portmap","capabilities":{"portMappings":true}},
                  {"type":"bandwidth","capabilities":{"bandwidth":true}}]}""");
        ObjectNode caps = CniRuntimeConfig.capabilityArgs(pod(Map.of("kubernetes.io/ingress-bandwidth", "10M"),
                List.of(new PodNetwork.PortMapping("UDP", 53, 5353, "10.0.0.1"), new PodNetwork.PortMapping("tcp", 80, 0, ""))));
        ObjectNode bridge = CniRuntimeConfig.pluginConfig(net.plugins().get(0), net, null, caps);
        assertFalse(bridge.has("runtimeConfig"));
        assertEquals("n", bridge.get("name").asText());
        assertEquals("1.0.0", bridge.get("cniVersion").asText());

        ObjectNode prev = Json.mapper().createObjectNode().put("cniVersion", "1.0.0");
        ObjectNode portmap = CniRuntimeConfig.pluginConfig(net.plugins().get(1), net, prev, caps);
        assertEquals(prev, portmap.get("prevResult"));
        JsonNode pm = portmap.at("/runtimeConfig/portMappings");
        assertEquals(1, pm.size(), "a mapping without host port is not published");
        assertEquals(5353, pm.get(0).get("hostPort").asInt());
        assertEquals(53, pm.get(0).get("containerPort").asInt());
        assertEquals("udp", pm.get(0).get("protocol").asText());
        assertEquals("10.0.0.1", pm.get(0).get("hostIP").asText());
        assertFalse(portmap.at("/runtimeConfig").has("bandwidth"));
        assertFalse(portmap.at("/runtimeConfig").has("cgroupPath"));

        ObjectNode bw = CniRuntimeConfig.pluginConfig(net.plugins().get(2), net, prev, caps);
        assertEquals(10_000_000L, bw.at("/runtimeConfig/bandwidth/ingressRate").asLong());
        assertFalse(bw.at("/runtimeConfig/bandwidth").has("egressRate"));
    }

    @Test
    void cniArgsCarryThePodIdentity() {
        assertEquals("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=sb1;K8S_POD_UID=uid-1",
                CniRuntimeConfig.cniArgs(pod(Map.of(), List.of())));
    }

    @Test
    void badPortMappingsAndBandwidthAreInvalidArguments() {
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, assertThrows(BerthException.class, () -> CniRuntimeConfig.capabilityArgs(
                pod(Map.of(), List.of(new PodNetwork.PortMapping("icmp", 1, 2, ""))))).kind());
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, assertThrows(BerthException.class, () -> CniRuntimeConfig.capabilityArgs(
                pod(Map.of(), List.of(new PodNetwork.PortMapping("tcp", 80, 70000, ""))))).kind());
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, assertThrows(BerthException.class, () -> CniRuntimeConfig.capabilityArgs(
                pod(Map.of("kubernetes.io/egress-bandwidth", "fast"), List.of()))).kind());
        assertEquals(1024L * 1024, Bandwidth.bitsPerSecond("1Mi"));
        assertEquals(500_000L, Bandwidth.bitsPerSecond("500k"));
    }

    @Test
    void theStatusListsSandboxAddressesIpv4First() throws Exception {
        JsonNode result = Json.mapper().readTree("""
                {"cniVersion":"1.0.0",
                 "interfaces":[{"name":"br0"},{"name":"veth1"},{"name":"eth0","sandbox":"/run/netns/x"}],
                 "ips":[{"interface":0,"address":"10.0.0.1/24"},
                        {"interface":2,"address":"fd00::5/64"},
                        {"interface":2,"address":"10.0.0.5/24","gateway":"10.0.0.1"}]}""");
        PodNetwork.PodNetworkStatus s = CniRuntimeConfig.status(result);
        assertEquals(List.of("10.0.0.5", "fd00::5"), s.ips());
        assertEquals("eth0", s.interfaceName());
        JsonNode v04 = Json.mapper().readTree("{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"4\",\"address\":\"10.1.0.9/16\"}]}");
        assertEquals(List.of("10.1.0.9"), CniRuntimeConfig.status(v04).ips());
    }

    @Test
    void configsAreValidatedAndASingleConfBecomesAChainOfOne() {
        NetworkConfigList single = NetworkConfigList.parse(
                "{\"cniVersion\":\"0.4.0\",\"name\":\"s\",\"type\":\"ptp\",\"ipam\":{\"type\":\"host-local\"}}".getBytes(StandardCharsets.UTF_8),
                false, "f");
        assertEquals(List.of("ptp"), single.pluginTypes());
        assertEquals("host-local", single.plugins().get(0).at("/ipam/type").asText());
        NetworkConfigList back = NetworkConfigList.fromJson(single.toJson(), "cache");
        assertEquals(single.plugins(), back.plugins());
        assertEquals(single.name(), back.name());
        for (String bad : List.of("[]", "{\"name\":\"x\",\"cniVersion\":\"1.0.0\",\"plugins\":[]}",
                "{\"name\":\"x\",\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"../bin/sh\"}]}",
                "{\"name\":\"x\",\"cniVersion\":\"9.9.9\",\"plugins\":[{\"type\":\"bridge\"}]}",
                "{\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"bridge\"}]}",
                "{\"name\":\"a/b\",\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"bridge\"}]}")) {
            assertThrows(NetworkConfigList.InvalidConfig.class, () -> list(bad), bad);
        }
        assertTrue(CniVersion.atLeast("1.1.0", "1.0.0") && !CniVersion.atLeast("0.4.0", "1.0.0") && CniVersion.atLeast("0.10.0", "0.4.0"));
    }

    @Tag("root")
    @Test
    void pluginErrorsAreTurnedIntoActionableMessages() throws Exception {
        CniPluginExec exec = new CniPluginExec(List.of(Path.of("/nonexistent")), java.time.Duration.ofSeconds(5));
        BerthException e = assertThrows(BerthException.class,
                () -> exec.run("bridge", CniPluginExec.Call.simple("VERSION", "n"), "{}".getBytes(StandardCharsets.UTF_8)));
        assertTrue(e.getMessage().contains("\"bridge\"") && e.getMessage().contains("/nonexistent"), e.getMessage());
        CniPluginExec real = new CniPluginExec(BridgeFixture.PLUGIN_DIRS, java.time.Duration.ofSeconds(30));
        BerthException notChained = assertThrows(BerthException.class, () -> real.run("portmap",
                new CniPluginExec.Call("ADD", "c1", "/run/netns/berth-test-does-not-exist", "eth0", "", "n"),
                "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"portmap\"}".getBytes(StandardCharsets.UTF_8)));
        assertEquals("CNI plugin \"portmap\" failed ADD for network \"n\", container c1: must be called as chained plugin "
                + "(CNI error code 999 plugin-specific)", notChained.getMessage());
    }
}
