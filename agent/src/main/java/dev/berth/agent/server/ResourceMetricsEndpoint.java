package dev.berth.agent.server;

import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeFormatter;

/**
 * {@code GET /metrics/resource}: the node's, pods' and containers' CPU time and memory working
 * set in the Prometheus text format, under the kubelet's names and labels, each sample with
 * the time it was measured (in milliseconds). {@code resource_scrape_error} (and its older
 * name {@code scrape_error}) is 1 when the runtime could not be asked; the other series are
 * then absent.
 */
public final class ResourceMetricsEndpoint implements Endpoint {
    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private final StatsSummaryBuilder builder;

    public ResourceMetricsEndpoint(StatsSummaryBuilder builder) {
        this.builder = builder;
    }

    @Override
    public void handle(EndpointRequest request, EndpointResponse response) throws IOException {
        if (!request.method().equals("GET")) {
            response.error(405, "Method Not Allowed");
            return;
        }
        StatsSummary summary;
        try {
            summary = builder.build(true);
        } catch (StatusRuntimeException e) {
            summary = null;
        }
        byte[] body = text(summary).getBytes(StandardCharsets.UTF_8);
        response.start(200, CONTENT_TYPE);
        try (OutputStream out = response.body()) {
            out.write(body);
        }
    }

    /** The exposition of {@code summary} (null: the scrape failed). */
    static String text(StatsSummary summary) {
        StringBuilder s = new StringBuilder();
        if (summary != null) {
            StatsSummary.Node node = summary.node();
            family(s, "container_cpu_usage_seconds_total", "counter", "Cumulative CPU time the container used, in core-seconds");
            for (StatsSummary.PodStats p : summary.pods()) {
                for (StatsSummary.ContainerStats c : p.containers()) {
                    if (c.cpu() != null && c.cpu().usageCoreNanoSeconds() != null) {
                        sample(s, "container_cpu_usage_seconds_total", containerLabels(p, c), c.cpu().usageCoreNanoSeconds() / 1e9, c.cpu().time());
                    }
                }
            }
            family(s, "container_memory_working_set_bytes", "gauge", "The container's memory working set, in bytes");
            for (StatsSummary.PodStats p : summary.pods()) {
                for (StatsSummary.ContainerStats c : p.containers()) {
                    if (c.memory() != null && c.memory().workingSetBytes() != null) {
                        sample(s, "container_memory_working_set_bytes", containerLabels(p, c), c.memory().workingSetBytes(), c.memory().time());
                    }
                }
            }
            family(s, "container_start_time_seconds", "gauge", "When the container started, in seconds since the Unix epoch");
            for (StatsSummary.PodStats p : summary.pods()) {
                for (StatsSummary.ContainerStats c : p.containers()) {
                    if (c.startTime() != null) {
                        sample(s, "container_start_time_seconds", containerLabels(p, c), seconds(c.startTime()), c.startTime());
                    }
                }
            }
            family(s, "node_cpu_usage_seconds_total", "counter", "Cumulative CPU time the node used, in core-seconds");
            if (node.cpu() != null && node.cpu().usageCoreNanoSeconds() != null) {
                sample(s, "node_cpu_usage_seconds_total", "", node.cpu().usageCoreNanoSeconds() / 1e9, node.cpu().time());
            }
            family(s, "node_memory_working_set_bytes", "gauge", "The node's memory working set, in bytes");
            if (node.memory() != null && node.memory().workingSetBytes() != null) {
                sample(s, "node_memory_working_set_bytes", "", node.memory().workingSetBytes(), node.memory().time());
            }
            family(s, "pod_cpu_usage_seconds_total", "counter", "Cumulative CPU time the pod used, in core-seconds");
            for (StatsSummary.PodStats p : summary.pods()) {
                if (p.cpu() != null && p.cpu().usageCoreNanoSeconds() != null) {
                    sample(s, "pod_cpu_usage_seconds_total", podLabels(p), p.cpu().usageCoreNanoSeconds() / 1e9, p.cpu().time());
                }
            }
            family(s, "pod_memory_working_set_bytes", "gauge", "The pod's memory working set, in bytes");
            for (StatsSummary.PodStats p : summary.pods()) {
                if (p.memory() != null && p.memory().workingSetBytes() != null) {
                    sample(s, "pod_memory_working_set_bytes", podLabels(p), p.memory().workingSetBytes(), p.memory().time());
                }
            }
        }
        int error = summary == null ? 1 : 0;
        family(s, "resource_scrape_error", "gauge", "1 if an error occurred while getting the resource metrics, 0 otherwise");
        s.append("resource_scrape_error ").append(error).append('\n');
        family(s, "scrape_error", "gauge", "1 if an error occurred while getting the resource metrics, 0 otherwise (older name of resource_scrape_error)");
        s.append("scrape_error ").append(error).append('\n');
        return s.toString();
    }

    private static void family(StringBuilder s, String name, String type, String help) {
        s.append("# HELP ").append(name).append(' ').append(help).append('\n');
        s.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private static void sample(StringBuilder s, String name, String labels, double value, String time) {
        s.append(name);
        if (!labels.isEmpty()) {
            s.append('{').append(labels).append('}');
        }
        s.append(' ').append(number(value));
        if (time != null) {
            s.append(' ').append(Instant.from(DateTimeFormatter.ISO_INSTANT.parse(time)).toEpochMilli());
        }
        s.append('\n');
    }

    private static String number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    private static long seconds(String time) {
        return Instant.from(DateTimeFormatter.ISO_INSTANT.parse(time)).getEpochSecond();
    }

    private static String containerLabels(StatsSummary.PodStats p, StatsSummary.ContainerStats c) {
        return "container=\"" + escape(c.name()) + "\"," + podLabels(p);
    }

    private static String podLabels(StatsSummary.PodStats p) {
        return "namespace=\"" + escape(p.podRef().namespace()) + "\",pod=\"" + escape(p.podRef().name()) + "\"";
    }

    /** A label value in the text format: backslash, double quote and newline escaped. */
    static String escape(String v) {
        return v == null ? "" : v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
