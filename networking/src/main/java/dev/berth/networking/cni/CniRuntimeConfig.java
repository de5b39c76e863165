package dev.berth.networking.cni;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.networking.PodNetwork;
import dev.berth.networking.PodNetwork.PodAttachment;
import dev.berth.networking.PodNetwork.PodNetworkStatus;
import dev.berth.networking.PodNetwork.PortMapping;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The JSON a CNI plugin is given and what berth reads from its result: CNI_ARGS, the
 * runtimeConfig capabilities, each plugin's stdin config, and the pod's addresses.
 */
final class CniRuntimeConfig {
    static final String IF_NAME = "eth0";

    private CniRuntimeConfig() {
    }

    static String cniArgs(PodAttachment a) {
        return "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + nz(a.podNamespace()) + ";K8S_POD_NAME=" + nz(a.podName())
                + ";K8S_POD_INFRA_CONTAINER_ID=" + a.sandboxId() + ";K8S_POD_UID=" + nz(a.podUid());
    }

    private static String nz(String s) {
        return s == null ? "" : s;
    }

    /** The runtimeConfig values berth can give; each reaches only plugins declaring that capability. */
    static ObjectNode capabilityArgs(PodAttachment a) {
        ObjectNode caps = JsonNodeFactory.instance.objectNode();
        ArrayNode ports = caps.putArray("portMappings");
        for (PortMapping pm : a.portMappings()) {
            if (pm.hostPort() <= 0) {
                continue;
            }
            if (pm.hostPort() > 65535 || pm.containerPort() <= 0 || pm.containerPort() > 65535) {
                throw BerthException.invalidArgument("port mapping %d->%d is outside 1..65535", pm.hostPort(), pm.containerPort());
            }
            String proto = pm.protocol() == null || pm.protocol().isEmpty() ? "tcp" : pm.protocol().toLowerCase();
            if (!List.of("tcp", "udp", "sctp").contains(proto)) {
                throw BerthException.invalidArgument("port mapping protocol \"%s\" is not tcp, udp or sctp", pm.protocol());
            }
            ObjectNode m = ports.addObject();
            m.put("hostPort", pm.hostPort());
            m.put("containerPort", pm.containerPort());
            m.put("protocol", proto);
            if (pm.hostIp() != null && !pm.hostIp().isEmpty()) {
                m.put("hostIP", pm.hostIp());
            }
        }
        String ingress = a.annotations().get("kubernetes.io/ingress-bandwidth");
        String egress = a.annotations().get("kubernetes.io/egress-bandwidth");
        if (ingress != null || egress != null) {
            ObjectNode bw = caps.putObject("bandwidth");
            if (ingress != null) {
                bw.put("ingressRate", Bandwidth.bitsPerSecond(ingress));
                bw.put("ingressBurst", Integer.MAX_VALUE);
            }
            if (egress != null) {
                bw.put("egressRate", Bandwidth.bitsPerSecond(egress));
                bw.put("egressBurst", Integer.MAX_VALUE);
            }
        }
        if (a.cgroupParent() != null && !a.cgroupParent().isEmpty()) {
            caps.put("cgroupPath", a.cgroupParent());
        }
        return caps;
    }

    /** A plugin's stdin: its config with the network's name and version, prevResult and its capabilities' runtimeConfig. */
    static ObjectNode pluginConfig(ObjectNode plugin, NetworkConfigList net, JsonNode prevResult, ObjectNode capabilityArgs) {
        ObjectNode conf = plugin.deepCopy();
        conf.put("name", net.name());
        conf.put("cniVersion", net.cniVersion());
        if (prevResult != null) {
            conf.set("prevResult", prevResult);
        } else {
            conf.remove("prevResult");
        }
        JsonNode declared = plugin.path("capabilities");
        ObjectNode rc = JsonNodeFactory.instance.objectNode();
        capabilityArgs.fieldNames().forEachRemaining(k -> {
            if (declared.path(k).asBoolean(false)) {
                rc.set(k, capabilityArgs.get(k));
            }
        });
        if (!rc.isEmpty()) {
            conf.set("runtimeConfig", rc);
        }
        return conf;
    }

    static CniPluginExec.Call call(String command, AttachmentCache.Entry e) {
        return new CniPluginExec.Call(command, e.sandboxId(), e.netns(), e.ifName(), e.cniArgs(), e.network().name());
    }

    /** The pod's addresses from a result: those on interfaces inside the sandbox (or unattributed), IPv4 first. */
    static PodNetworkStatus status(JsonNode result) {
        JsonNode ifaces = result.path("interfaces");
        List<String> v4 = new ArrayList<>();
        List<String> v6 = new ArrayList<>();
        for (JsonNode ip : result.path("ips")) {
            JsonNode idx = ip.get("interface");
            if (idx != null && idx.canConvertToInt()) {
                JsonNode iface = ifaces.path(idx.asInt());
                if (!iface.isMissingNode() && iface.path("sandbox").asText("").isEmpty()) {
                    continue;
                }
            }
            String addr = ip.path("address").asText("");
            int slash = addr.indexOf('/');
            String bare = slash < 0 ? addr : addr.substring(0, slash);
            if (!bare.isEmpty()) {
                (bare.contains(":") ? v6 : v4).add(bare);
            }
        }
        List<String> ips = new ArrayList<>(v4);
        ips.addAll(v6);
        return new PodNetworkStatus(ips, IF_NAME);
    }

    static byte[] bytes(JsonNode n) {
        return Json.write(n).getBytes(StandardCharsets.UTF_8);
    }
}
