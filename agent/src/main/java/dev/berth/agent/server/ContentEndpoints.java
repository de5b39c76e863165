package dev.berth.agent.server;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.PodWorkers;
import dev.berth.agent.status.StatusManager;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The content endpoints of the agent's HTTP API, by the path prefix the server routes on:
 * {@code /pods}, {@code /containerLogs/} (segments: namespace, pod, container),
 * {@code /stats/summary} and {@code /metrics/resource}, built on the agent's own collaborators.
 */
public final class ContentEndpoints {
    /** How long a volume's or log directory's usage is reused before it is walked again, as the kubelet's volume stats period. */
    static final Duration DIR_USAGE_MAX_AGE = Duration.ofMinutes(1);

    private ContentEndpoints() {
    }

    /**
     * @param stateDir the agent's state directory (its filesystem is the node's; pods' volumes under {@code pods/})
     * @param memoryCapacity the node's memory in bytes
     */
    public static Map<String, Endpoint> create(CriClient cri, PodWorkers workers, StatusManager status, String nodeName, Path stateDir,
            Path podLogsDir, long memoryCapacity) {
        StatsSummaryBuilder stats = new StatsSummaryBuilder(cri, workers::pods, nodeName, stateDir, podLogsDir, stateDir.resolve("pods"),
                new NodeReadings(Path.of("/")), memoryCapacity, Clock.systemUTC(), new DirUsage(DIR_USAGE_MAX_AGE, Clock.systemUTC()));
        Map<String, Endpoint> byPrefix = new LinkedHashMap<>();
        byPrefix.put("/pods", new PodsEndpoint(workers::pods, status::status));
        byPrefix.put("/containerLogs/", new ContainerLogsEndpoint(workers::pods, status::status, cri, podLogsDir));
        byPrefix.put("/stats/summary", new StatsSummaryEndpoint(stats));
        byPrefix.put("/metrics/resource", new ResourceMetricsEndpoint(stats));
        return byPrefix;
    }
}
