package dev.berth.networking.cni;

import static dev.berth.networking.cni.CniRuntimeConfig.bytes;
import static dev.berth.networking.cni.CniRuntimeConfig.pluginConfig;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.common.BerthException;
import dev.berth.networking.PodNetwork.NetworkReadiness;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Whether pods can be networked now, and if not, a message that says why (the runtime's NetworkReady condition). */
final class CniReadiness {
    /** Logs under the network's name, as it always has. */
    private static final Logger LOG = LoggerFactory.getLogger(CniPodNetwork.class);
    private static final String REASON = "NetworkPluginNotReady";

    private final CniConfigDirectory configDir;
    private final DefaultNetworkPolicy defaultNetwork;
    private final CniPluginExec exec;
    private final PluginChain chain;
    private final Map<String, String> versionProblems = new ConcurrentHashMap<>();

    CniReadiness(CniConfigDirectory configDir, DefaultNetworkPolicy defaultNetwork, CniPluginExec exec, PluginChain chain) {
        this.configDir = configDir;
        this.defaultNetwork = defaultNetwork;
        this.exec = exec;
        this.chain = chain;
    }

    /** Ready when the directory holds a valid network whose plugins are all present, speak its version and (1.1) pass STATUS. */
    NetworkReadiness readiness() {
        CniConfigDirectory.Snapshot snap = defaultNetwork.snapshot();
        if (snap.network().isEmpty()) {
            if (snap.candidateFiles() == 0) {
                return new NetworkReadiness(false, REASON, "no CNI network config (.conflist, .conf, .json) in "
                        + configDir.dir() + (!defaultNetwork.enabled() ? " and berth's default network is turned off" : ""));
            }
            return new NetworkReadiness(false, REASON, "no valid CNI network config in " + configDir.dir() + ": "
                    + String.join("; ", snap.problems()));
        }
        NetworkConfigList net = snap.network().get();
        List<String> missing = new ArrayList<>();
        for (String type : net.pluginTypes()) {
            if (exec.find(type).isEmpty() && !missing.contains(type)) {
                missing.add(type);
            }
        }
        if (!missing.isEmpty()) {
            return new NetworkReadiness(false, REASON, "CNI plugin" + (missing.size() > 1 ? "s " : " ")
                    + String.join(", ", missing) + " of network \"" + net.name() + "\" (" + net.source() + ") not found in "
                    + exec.binDirs());
        }
        for (String type : net.pluginTypes()) {
            String problem = versionProblem(type, net.cniVersion());
            if (problem != null) {
                return new NetworkReadiness(false, REASON, problem + " (network \"" + net.name() + "\", " + net.source() + ")");
            }
        }
        if (CniVersion.atLeast(net.cniVersion(), "1.1.0")) {
            long start = System.nanoTime();
            for (ObjectNode plugin : net.plugins()) {
                try {
                    exec.run(plugin.get("type").asText(), CniPluginExec.Call.simple("STATUS", net.name()),
                            bytes(pluginConfig(plugin, net, null, JsonNodeFactory.instance.objectNode())));
                } catch (BerthException e) {
                    chain.completed(CniOperationListener.Operation.STATUS, net.name(), start, false);
                    return new NetworkReadiness(false, REASON, e.getMessage());
                }
            }
            chain.completed(CniOperationListener.Operation.STATUS, net.name(), start, true);
        }
        return new NetworkReadiness(true, "", "");
    }

    /** Asks the plugin (VERSION) whether it speaks {@code version}; remembered per binary and version. */
    private String versionProblem(String type, String version) {
        Optional<Path> bin = exec.find(type);
        if (bin.isEmpty()) {
            return "CNI plugin " + type + " not found in " + exec.binDirs();
        }
        String key;
        try {
            key = bin.get() + "|" + Files.getLastModifiedTime(bin.get()) + "|" + version;
        } catch (IOException e) {
            return "cannot read CNI plugin " + bin.get() + ": " + e.getMessage();
        }
        String cached = versionProblems.get(key);
        if (cached != null) {
            return cached.isEmpty() ? null : cached;
        }
        String problem = "";
        try {
            ObjectNode in = JsonNodeFactory.instance.objectNode().put("cniVersion", version);
            JsonNode out = exec.run(type, CniPluginExec.Call.simple("VERSION", "(version check)"), bytes(in));
            List<String> supported = new ArrayList<>();
            if (out != null) {
                out.path("supportedVersions").forEach(v -> supported.add(v.asText()));
            }
            if (!supported.isEmpty() && !supported.contains(version)) {
                problem = "CNI plugin " + bin.get() + " supports versions " + supported + ", not cniVersion " + version;
            }
        } catch (BerthException e) {
            // a plugin that does not answer VERSION may still work; ADD will tell
            LOG.debug("VERSION of CNI plugin {} failed: {}", bin.get(), e.getMessage());
        }
        versionProblems.put(key, problem);
        return problem.isEmpty() ? null : problem;
    }
}
