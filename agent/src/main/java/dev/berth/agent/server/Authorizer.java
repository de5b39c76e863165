package dev.berth.agent.server;

import io.fabric8.kubernetes.api.model.authorization.v1.SubjectAccessReview;
import io.fabric8.kubernetes.api.model.authorization.v1.SubjectAccessReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether a user may make a request of the HTTP API: the kubelet's attributes of the request
 * ({@link #attributes}) asked of the API server as a SubjectAccessReview (answers cached:
 * allowed for {@code allowTtl}, denied for {@code denyTtl}), or every request allowed
 * ({@code api} null: the AlwaysAllow mode).
 */
public final class Authorizer {
    private static final Logger LOG = LoggerFactory.getLogger(Authorizer.class);
    private static final int CACHE_SIZE = 4096;

    /** The kubelet's attributes of a request: an API verb on a subresource of the node. */
    public record Attributes(String verb, String resource, String subresource, String name, String path) {
    }

    /** The answer: allowed, denied, or the API server could not say (answer 500). */
    public enum Decision {
        ALLOW, DENY, ERROR
    }

    private final KubernetesClient api;
    private final Duration allowTtl;
    private final Duration denyTtl;
    private final TtlCache<List<Object>, Boolean> answers;

    public Authorizer(KubernetesClient api, Duration allowTtl, Duration denyTtl, Clock clock) {
        this.api = api;
        this.allowTtl = allowTtl;
        this.denyTtl = denyTtl;
        this.answers = new TtlCache<>(clock, CACHE_SIZE);
    }

    /**
     * The kubelet's attributes: the verb from the HTTP method (GET get, POST create, PUT
     * update, PATCH patch, DELETE delete), resource {@code nodes} named {@code nodeName},
     * subresource {@code stats}, {@code metrics} or {@code log} for the paths under /stats,
     * /metrics and /logs, {@code proxy} for every other path (exec, attach, portForward,
     * containerLogs, pods, healthz).
     */
    public static Attributes attributes(String method, String path, String nodeName) {
        String verb = switch (method) {
            case "POST" -> "create";
            case "GET" -> "get";
            case "PUT" -> "update";
            case "PATCH" -> "patch";
            case "DELETE" -> "delete";
            default -> "";
        };
        String sub;
        if (under(path, "/stats")) {
            sub = "stats";
        } else if (under(path, "/metrics")) {
            sub = "metrics";
        } else if (under(path, "/logs")) {
            sub = "log";
        } else {
            sub = "proxy";
        }
        return new Attributes(verb, "nodes", sub, nodeName, path);
    }

    private static boolean under(String path, String prefix) {
        return path.equals(prefix) || path.startsWith(prefix + "/");
    }

    public Decision authorize(User user, Attributes a) {
        if (api == null) {
            return Decision.ALLOW;
        }
        List<Object> key = List.of(user.name(), user.uid(), user.groups(), user.extra(), a.verb(), a.resource(), a.subresource(), a.name());
        Boolean cached = answers.get(key);
        if (cached != null) {
            return cached ? Decision.ALLOW : Decision.DENY;
        }
        SubjectAccessReview answer;
        try {
            answer = api.authorization().v1().subjectAccessReview().create(new SubjectAccessReviewBuilder().withNewSpec()
                    .withUser(user.name()).withUid(user.uid().isEmpty() ? null : user.uid()).withGroups(user.groups())
                    .withExtra(user.extra().isEmpty() ? null : Map.copyOf(user.extra()))
                    .withNewResourceAttributes().withVerb(a.verb()).withGroup("").withVersion("v1").withResource(a.resource())
                    .withSubresource(a.subresource()).withName(a.name()).endResourceAttributes()
                    .endSpec().build());
        } catch (KubernetesClientException e) {
            LOG.warn("the HTTP API cannot ask SubjectAccessReview for {}: {}", user.name(), e.getMessage());
            return Decision.ERROR;
        }
        boolean allowed = answer != null && answer.getStatus() != null && Boolean.TRUE.equals(answer.getStatus().getAllowed());
        answers.put(key, allowed, allowed ? allowTtl : denyTtl);
        return allowed ? Decision.ALLOW : Decision.DENY;
    }

    /** The kubelet's 403 text. */
    public static String forbidden(User user, Attributes a) {
        return "Forbidden (user=" + user.name() + ", verb=" + a.verb() + ", resource=" + a.resource() + ", subresource="
                + a.subresource() + ")";
    }
}
