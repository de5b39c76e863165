package dev.berth.agent;

import dev.berth.agent.eviction.EvictionSettings;
import dev.berth.agent.gc.GcSettings;
import dev.berth.agent.node.NodeSettings;
import dev.berth.agent.pod.RestartSettings;
import dev.berth.agent.server.ServerSettings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What one node agent is told: its node, its own state directory ({@code <root>/agent}), where
 * static pod manifests are (null: none), where container logs go, the deadlines of its CRI
 * calls, how it presents its Node in connected mode ({@code node}), and whether it keeps the
 * pods' cgroups by QoS class under {@code <cgroupRoot>/kubepods}, and the cluster's DNS servers
 * and domain for pods of DNS policy ClusterFirst (none: they resolve as the machine does). Then
 * the parts with the kubelet's defaults when null: its HTTP API ({@code server}: port 10250 and
 * the read-only port; off when null), how it collects dead containers and unused images
 * ({@code gc}), how it evicts pods under node pressure ({@code eviction}; the hard thresholds
 * are the node's) and the crash back-off of containers that keep exiting ({@code restart}).
 */
public record AgentSettings(String nodeName, Path stateDir, Path podManifestPath, Path podLogsDir,
                            Duration manifestRescanInterval, Duration runtimeRequestTimeout, Duration imagePullTimeout,
                            NodeSettings node, boolean cgroupsPerQos, String cgroupRoot, List<String> clusterDns,
                            String clusterDomain, ServerSettings server, GcSettings gc, EvictionSettings eviction,
                            RestartSettings restart) {
    public AgentSettings {
        if (nodeName == null || nodeName.isEmpty()) {
            throw new IllegalArgumentException("the agent needs a node name");
        }
        if (node == null) {
            node = NodeSettings.defaults();
        }
        clusterDns = clusterDns == null ? List.of() : List.copyOf(clusterDns);
        clusterDomain = clusterDomain == null ? "" : clusterDomain;
        server = server == null ? ServerSettings.disabled() : server;
        gc = gc == null ? GcSettings.defaults() : gc;
        eviction = eviction == null ? EvictionSettings.defaults() : eviction;
        restart = restart == null ? RestartSettings.defaults() : restart;
    }

    /** Without the HTTP API, with the kubelet's garbage collection, eviction and crash back-off. */
    public AgentSettings(String nodeName, Path stateDir, Path podManifestPath, Path podLogsDir,
                         Duration manifestRescanInterval, Duration runtimeRequestTimeout, Duration imagePullTimeout,
                         NodeSettings node, boolean cgroupsPerQos, String cgroupRoot, List<String> clusterDns, String clusterDomain) {
        this(nodeName, stateDir, podManifestPath, podLogsDir, manifestRescanInterval, runtimeRequestTimeout, imagePullTimeout, node,
                cgroupsPerQos, cgroupRoot, clusterDns, clusterDomain, null, null, null, null);
    }

    /**
     * With the kubelet's defaults for the Node, without cgroups per QoS class (the pods' cgroups
     * are the runtime's default) and without the HTTP API.
     */
    public AgentSettings(String nodeName, Path stateDir, Path podManifestPath, Path podLogsDir,
                         Duration manifestRescanInterval, Duration runtimeRequestTimeout, Duration imagePullTimeout) {
        this(nodeName, stateDir, podManifestPath, podLogsDir, manifestRescanInterval, runtimeRequestTimeout, imagePullTimeout,
                NodeSettings.defaults(), false, "/", List.of(), "");
    }

    /** These settings with another HTTP API. */
    public AgentSettings withServer(ServerSettings newServer) {
        return new AgentSettings(nodeName, stateDir, podManifestPath, podLogsDir, manifestRescanInterval, runtimeRequestTimeout,
                imagePullTimeout, node, cgroupsPerQos, cgroupRoot, clusterDns, clusterDomain, newServer, gc, eviction, restart);
    }

    /** These settings with other garbage collection. */
    public AgentSettings withGc(GcSettings newGc) {
        return new AgentSettings(nodeName, stateDir, podManifestPath, podLogsDir, manifestRescanInterval, runtimeRequestTimeout,
                imagePullTimeout, node, cgroupsPerQos, cgroupRoot, clusterDns, clusterDomain, server, newGc, eviction, restart);
    }

    /** These settings with other eviction settings. */
    public AgentSettings withEviction(EvictionSettings newEviction) {
        return new AgentSettings(nodeName, stateDir, podManifestPath, podLogsDir, manifestRescanInterval, runtimeRequestTimeout,
                imagePullTimeout, node, cgroupsPerQos, cgroupRoot, clusterDns, clusterDomain, server, gc, newEviction, restart);
    }

    /** These settings with another crash back-off. */
    public AgentSettings withRestart(RestartSettings newRestart) {
        return new AgentSettings(nodeName, stateDir, podManifestPath, podLogsDir, manifestRescanInterval, runtimeRequestTimeout,
                imagePullTimeout, node, cgroupsPerQos, cgroupRoot, clusterDns, clusterDomain, server, gc, eviction, newRestart);
    }
}
