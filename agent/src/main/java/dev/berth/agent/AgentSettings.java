package dev.berth.agent;

import dev.berth.agent.node.NodeSettings;
import dev.berth.agent.pod.RestartSettings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What one node agent is told: its node, its own state directory ({@code <root>/agent}), where
 * static pod manifests are (null: none), where container logs go, the deadlines of its CRI
 * calls, how it presents its Node in connected mode ({@code node}), and whether it keeps the
 * pods' cgroups by QoS class under {@code <cgroupRoot>/kubepods}, and the cluster's DNS servers
 * and domain for pods of DNS policy ClusterFirst (none: they resolve as the machine does), and
 * the crash back-off of containers that keep exiting ({@code restart}).
 */
public record AgentSettings(String nodeName, Path stateDir, Path podManifestPath, Path podLogsDir,
                            Duration manifestRescanInterval, Duration runtimeRequestTimeout, Duration imagePullTimeout,
                            NodeSettings node, boolean cgroupsPerQos, String cgroupRoot, List<String> clusterDns,
                            String clusterDomain, RestartSettings restart) {
    public AgentSettings {
        if (nodeName == null || nodeName.isEmpty()) {
            throw new IllegalArgumentException("the agent needs a node name");
        }
        if (node == null) {
            node = NodeSettings.defaults();
        }
        clusterDns = clusterDns == null ? List.of() : List.copyOf(clusterDns);
        clusterDomain = clusterDomain == null ? "" : clusterDomain;
        if (restart == null) {
            restart = RestartSettings.defaults();
        }
    }

    /** With the kubelet's crash back-off (10 s doubling to 5 min). */
    public AgentSettings(String nodeName, Path stateDir, Path podManifestPath, Path podLogsDir,
                         Duration manifestRescanInterval, Duration runtimeRequestTimeout, Duration imagePullTimeout,
                         NodeSettings node, boolean cgroupsPerQos, String cgroupRoot, List<String> clusterDns, String clusterDomain) {
        this(nodeName, stateDir, podManifestPath, podLogsDir, manifestRescanInterval, runtimeRequestTimeout, imagePullTimeout, node,
                cgroupsPerQos, cgroupRoot, clusterDns, clusterDomain, RestartSettings.defaults());
    }

    /** With the kubelet's defaults for the Node and without cgroups per QoS class (the pods' cgroups are the runtime's default). */
    public AgentSettings(String nodeName, Path stateDir, Path podManifestPath, Path podLogsDir,
                         Duration manifestRescanInterval, Duration runtimeRequestTimeout, Duration imagePullTimeout) {
        this(nodeName, stateDir, podManifestPath, podLogsDir, manifestRescanInterval, runtimeRequestTimeout, imagePullTimeout,
                NodeSettings.defaults(), false, "/", List.of(), "", RestartSettings.defaults());
    }
}
