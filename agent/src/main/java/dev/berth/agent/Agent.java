package dev.berth.agent;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.NodeFacts;
import dev.berth.agent.pod.PodDirs;
import dev.berth.agent.pod.Pleg;
import dev.berth.agent.pod.PodSync;
import dev.berth.agent.pod.PodTranslation;
import dev.berth.agent.pod.PodWorkers;
import dev.berth.agent.staticpod.ManifestParser;
import dev.berth.agent.staticpod.StaticPods;
import dev.berth.agent.status.ApiEventRecorder;
import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.status.HostAddresses;
import dev.berth.agent.status.LoggingEventRecorder;
import dev.berth.agent.status.PodStatusBuilder;
import dev.berth.agent.status.StatusManager;
import dev.berth.agent.status.TerminationMessages;
import dev.berth.cri.v1.VersionResponse;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.Channel;
import io.grpc.StatusRuntimeException;
import java.time.Clock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent: drives one runtime through the CRI ({@code channel}: berth's own in
 * process, or any runtime's socket) for the pods of its sources. Standalone mode runs the
 * static pods of a manifest directory. It holds its state directory's {@link StateLock} while
 * it runs; {@link #close()} stops the agent and leaves every pod running, as the kubelet does,
 * for the next agent to adopt.
 */
public final class Agent implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Agent.class);

    private final StateLock lock;
    private final PodWorkers workers;
    private final StaticPods staticPods;
    private final Pleg pleg;
    private final StatusManager status;
    private final EventRecorder events;

    private Agent(StateLock lock, PodWorkers workers, StaticPods staticPods, Pleg pleg, StatusManager status, EventRecorder events) {
        this.lock = lock;
        this.workers = workers;
        this.staticPods = staticPods;
        this.pleg = pleg;
        this.status = status;
        this.events = events;
    }

    /**
     * Starts the agent on {@code channel} (which stays the caller's). {@code lock} is the state
     * directory's lock, taken before anything else started; the agent releases it on close.
     * {@code api} is the API server's client in connected mode (it stays the caller's), null
     * when the agent runs standalone.
     */
    public static Agent start(AgentSettings settings, StateLock lock, Channel channel, KubernetesClient api) {
        CriClient cri = new CriClient(channel, settings.runtimeRequestTimeout(), settings.imagePullTimeout());
        RuntimeName runtimeName = new RuntimeName(cri);
        try {
            VersionResponse v = cri.version();
            runtimeName.name = v.getRuntimeName();
            LOG.info("agent for node {} drives {} {} (CRI {})", settings.nodeName(), v.getRuntimeName(), v.getRuntimeVersion(),
                    v.getRuntimeApiVersion());
        } catch (StatusRuntimeException e) {
            // the runtime may come up later; every pod worker retries its calls
            LOG.warn("agent for node {}: the runtime does not answer Version yet: {}", settings.nodeName(), e.getStatus());
        }
        // status upward and events: written to the API server when connected, built and logged when standalone
        EventRecorder events = api != null ? new ApiEventRecorder(api, settings.nodeName(), Clock.systemUTC()) : new LoggingEventRecorder();
        StatusManager status = new StatusManager(api, new PodStatusBuilder(runtimeName, HostAddresses.detected(), Clock.systemUTC()),
                new TerminationMessages(new PodDirs(settings.stateDir())));
        PodWorkers workers = new PodWorkers(new PodSync(cri, new PodTranslation(NodeFacts.current(), settings.podLogsDir()), events),
                status);
        Pleg pleg = new Pleg(cri, workers);
        pleg.start();
        StaticPods staticPods = null;
        if (settings.podManifestPath() != null) {
            staticPods = new StaticPods(settings.podManifestPath(), new ManifestParser(settings.nodeName()), workers, cri,
                    settings.manifestRescanInterval());
            staticPods.start();
        } else if (api == null) {
            LOG.info("agent for node {}: no pod manifest path and no API server: no pods to run", settings.nodeName());
        }
        return new Agent(lock, workers, staticPods, pleg, status, events);
    }

    /** The runtime's name from CRI Version (the scheme of container ids in pod statuses), asked again until it answers. */
    private static final class RuntimeName implements java.util.function.Supplier<String> {
        private final CriClient cri;
        volatile String name;

        RuntimeName(CriClient cri) {
            this.cri = cri;
        }

        @Override
        public String get() {
            String n = name;
            if (n == null) {
                try {
                    n = cri.version().getRuntimeName();
                    name = n;
                } catch (StatusRuntimeException e) {
                    return "unknown";
                }
            }
            return n;
        }
    }

    /** Stops the agent's work; the pods keep running in the runtime. */
    @Override
    public void close() {
        if (staticPods != null) {
            staticPods.close();
        }
        pleg.close();
        workers.close();
        status.close();
        if (events instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                // closing anyway
            }
        }
        lock.close();
        LOG.info("agent stopped; its pods keep running");
    }
}
