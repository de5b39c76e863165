package dev.berth.agent;

import java.nio.file.Path;
import java.time.Duration;

/**
 * What one node agent is told: its node, its own state directory ({@code <root>/agent}), where
 * static pod manifests are (null: none), where container logs go, and the deadlines of its CRI calls.
 */
public record AgentSettings(String nodeName, Path stateDir, Path podManifestPath, Path podLogsDir,
                            Duration manifestRescanInterval, Duration runtimeRequestTimeout, Duration imagePullTimeout) {
    public AgentSettings {
        if (nodeName == null || nodeName.isEmpty()) {
            throw new IllegalArgumentException("the agent needs a node name");
        }
    }
}
