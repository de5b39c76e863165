package dev.berth.agent.probe;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.ContainerHooks;
import dev.berth.agent.status.EventRecorder;
import dev.berth.common.DaemonThreads;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.PodSandboxStatus;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.LifecycleHandler;
import io.fabric8.kubernetes.api.model.Pod;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The containers' postStart and preStop hooks, run as the kubelet runs them: exec through
 * ExecSync in the container, httpGet to the pod's address (any answer is success; only a
 * failed exchange fails), sleep. postStart runs without a time limit, and its failure is thrown
 * with the kubelet's message (the caller records FailedPostStartHook and kills the container).
 * preStop runs for at most its budget (what is left of the grace period, also the ExecSync
 * timeout); a failed one is a FailedPreStopHook event, and the stop goes on.
 */
public final class LifecycleHooks implements ContainerHooks, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(LifecycleHooks.class);

    private final CriClient cri;
    private final Actions actions;
    private final EventRecorder events;
    private final Supplier<List<String>> hostIps;
    /** preStop hooks run here, so the caller waits at most the budget. */
    private final ExecutorService running;

    /** @param hostIps the node's addresses: a host-network pod's address */
    public LifecycleHooks(CriClient cri, Actions actions, EventRecorder events, Supplier<List<String>> hostIps) {
        this.cri = cri;
        this.actions = actions;
        this.events = events;
        this.hostIps = hostIps;
        AtomicInteger n = new AtomicInteger();
        this.running = Executors.newCachedThreadPool(r -> DaemonThreads.named("prestop-hook-" + n.incrementAndGet()).newThread(r));
    }

    @Override
    public void postStart(Pod pod, Container container, String containerId) {
        if (container.getLifecycle() == null || container.getLifecycle().getPostStart() == null) {
            return;
        }
        String failure = run(pod, container, containerId, container.getLifecycle().getPostStart(), Duration.ZERO);
        if (failure != null) {
            LOG.warn("pod {}: {}", pod.getMetadata().getName(), failure);
            throw new HookFailedException(failure);
        }
    }

    @Override
    public void preStop(Pod pod, Container container, String containerId, Duration budget) {
        if (container.getLifecycle() == null || container.getLifecycle().getPreStop() == null) {
            return;
        }
        LifecycleHandler handler = container.getLifecycle().getPreStop();
        Duration limit = budget.isNegative() ? Duration.ZERO : budget;
        Future<String> hook = running.submit(() -> run(pod, container, containerId, handler, limit.isZero() ? Duration.ofSeconds(1) : limit));
        try {
            String failure = hook.get(limit.toMillis(), TimeUnit.MILLISECONDS);
            if (failure != null) {
                LOG.warn("pod {}: preStop hook failed: {}", pod.getMetadata().getName(), failure);
                // the message stays out of the event, as with the kubelet: it may carry secrets
                events.event(EventRecorder.podReference(pod, container.getName()), EventRecorder.WARNING, "FailedPreStopHook",
                        "PreStopHook failed");
            }
        } catch (TimeoutException e) {
            hook.cancel(true);
            LOG.info("pod {}: the preStop hook of container {} did not end within its {} s", pod.getMetadata().getName(),
                    container.getName(), limit.toSeconds());
        } catch (ExecutionException e) {
            LOG.warn("pod {}: preStop hook of {} broke: {}", pod.getMetadata().getName(), container.getName(), e.getCause().toString());
            events.event(EventRecorder.podReference(pod, container.getName()), EventRecorder.WARNING, "FailedPreStopHook",
                    "PreStopHook failed");
        } catch (InterruptedException e) {
            hook.cancel(true);
            Thread.currentThread().interrupt();
        }
    }

    /** Runs {@code handler}; null when it succeeded, else the kubelet's message of its failure. {@code timeout} zero: none. */
    String run(Pod pod, Container c, String containerId, LifecycleHandler handler, Duration timeout) {
        String where = " for Container \"" + c.getName() + "\" in Pod \"" + podName(pod) + "\" failed - error: ";
        if (handler.getExec() != null) {
            List<String> cmd = handler.getExec().getCommand();
            try {
                ExecSyncResponse r = cri.execSync(containerId, cmd, timeout);
                if (r.getExitCode() == 0) {
                    return null;
                }
                return "Exec lifecycle hook (" + goList(cmd) + ")" + where + "command '" + String.join(" ", cmd) + "' exited with "
                        + r.getExitCode() + ": " + r.getStderr().toStringUtf8() + ", message: \"" + Actions.output(r) + "\"";
            } catch (StatusRuntimeException e) {
                String error = e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED ? "command \"" + String.join(" ", cmd)
                        + "\" timed out" : "rpc error: code = " + e.getStatus().getCode() + " desc = " + e.getStatus().getDescription();
                return "Exec lifecycle hook (" + goList(cmd) + ")" + where + error + ", message: \"\"";
            }
        }
        if (handler.getHttpGet() != null) {
            String path = handler.getHttpGet().getPath() == null ? "" : handler.getHttpGet().getPath();
            try {
                String host = handler.getHttpGet().getHost();
                // the pod's address is looked up only when the hook names no host
                HttpGetAction.Exchange x = Actions.http(handler.getHttpGet(), c, host == null || host.isEmpty() ? podIp(pod, containerId)
                        : host, Actions.HOOK_AGENT,
                        timeout.isZero() ? Duration.ofDays(1) : timeout);
                return x.response() != null ? null : "HTTP lifecycle hook (" + path + ")" + where + x.error();
            } catch (IllegalArgumentException | StatusRuntimeException e) {
                return "HTTP lifecycle hook (" + path + ")" + where + e.getMessage();
            }
        }
        if (handler.getSleep() != null) {
            long seconds = handler.getSleep().getSeconds() == null ? 0 : handler.getSleep().getSeconds();
            try {
                Thread.sleep(Duration.ofSeconds(seconds).toMillis());
                return null;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "Sleep lifecycle hook (" + seconds + ")" + where + "interrupted";
            }
        }
        if (handler.getTcpSocket() != null) {
            // deprecated for hooks and never run by the kubelet: accepted and skipped
            return null;
        }
        return "Unknown lifecycle hook" + where + "invalid handler";
    }

    /** The pod's address as the runtime has it (its sandbox's), else the one in its status, else the node's for a host-network pod. */
    private String podIp(Pod pod, String containerId) {
        try {
            String sandbox = cri.sandboxOf(containerId).orElse(null);
            if (sandbox != null) {
                PodSandboxStatus s = cri.podSandboxStatus(sandbox);
                if (s.hasNetwork() && !s.getNetwork().getIp().isEmpty()) {
                    return s.getNetwork().getIp();
                }
            }
        } catch (StatusRuntimeException e) {
            LOG.debug("pod {}: no address from the runtime: {}", pod.getMetadata().getName(), e.getStatus());
        }
        if (pod.getStatus() != null && pod.getStatus().getPodIP() != null && !pod.getStatus().getPodIP().isEmpty()) {
            return pod.getStatus().getPodIP();
        }
        List<String> hosts = hostIps.get();
        if (Boolean.TRUE.equals(pod.getSpec().getHostNetwork()) && !hosts.isEmpty()) {
            return hosts.get(0);
        }
        throw new IllegalArgumentException("failed to find networking container: the pod has no IP address");
    }

    static String podName(Pod pod) {
        return pod.getMetadata().getName() + "_" + pod.getMetadata().getNamespace() + "(" + pod.getMetadata().getUid() + ")";
    }

    private static String goList(List<String> l) {
        return "[" + String.join(" ", l) + "]";
    }

    @Override
    public void close() {
        running.shutdownNow();
    }
}
