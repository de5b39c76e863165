package dev.berth.cli.metrics;

import dev.berth.common.BerthVersion;
import dev.berth.criserver.runtime.Readiness;
import dev.berth.common.Json;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What {@code GET /healthz} answers: the same readiness conditions as the CRI Status call,
 * healthy (200) exactly when RuntimeReady holds, unhealthy (503) otherwise. NetworkReady is
 * reported but does not decide: a node without its pod network still runs host-network pods,
 * and the kubelet reads that condition itself.
 */
public final class Health {
    private static final Logger LOG = LoggerFactory.getLogger(Health.class);

    private final List<Readiness.Check> checks;

    public Health(List<Readiness.Check> checks) {
        this.checks = List.copyOf(checks);
    }

    /** The HTTP status and JSON body of one health check. */
    public record Report(boolean healthy, List<Readiness> conditions) {
        public int httpStatus() {
            return healthy ? 200 : 503;
        }

        public String json() {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("status", healthy ? "ok" : "unhealthy");
            body.put("runtime", "berth");
            body.put("version", BerthVersion.get());
            List<Map<String, Object>> list = new ArrayList<>();
            for (Readiness r : conditions) {
                Map<String, Object> c = new LinkedHashMap<>();
                c.put("type", r.type());
                c.put("status", r.ready());
                c.put("reason", r.reason());
                c.put("message", r.message());
                list.add(c);
            }
            body.put("conditions", list);
            return Json.write(body);
        }
    }

    public Report check() {
        List<Readiness> conditions = new ArrayList<>();
        for (Readiness.Check check : checks) {
            try {
                conditions.add(check.check());
            } catch (RuntimeException e) {
                LOG.warn("a readiness check failed: {}", e.toString());
                conditions.add(Readiness.notReady(check.getClass().getSimpleName(), "CheckFailed", String.valueOf(e)));
            }
        }
        boolean runtimeReady = conditions.stream().anyMatch(r -> Readiness.RUNTIME_READY.equals(r.type()) && r.ready())
                && conditions.stream().noneMatch(r -> Readiness.RUNTIME_READY.equals(r.type()) && !r.ready());
        return new Report(runtimeReady, List.copyOf(conditions));
    }
}
