package dev.berth.cli;

import dev.berth.agent.Agent;
import dev.berth.agent.AgentSettings;
import dev.berth.agent.StateLock;
import dev.berth.agent.api.ApiClients;
import dev.berth.cli.config.BerthConfig;
import dev.berth.cli.config.ConfigException;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * {@code berth agent}: the node agent over berth's own runtime started in the same process
 * (reached through an in-process CRI channel; the runtime also serves its socket and
 * {@code /metrics}), or over another runtime's CRI socket. The agent's state directory is
 * locked before anything starts, so a second agent on the same root is refused at once.
 */
public final class NodeAgent {
    private static final Logger LOG = LoggerFactory.getLogger(NodeAgent.class);

    private final BerthConfig config;

    public NodeAgent(BerthConfig config) {
        this.config = config;
    }

    public int run() throws InterruptedException {
        BerthConfig.Agent a = config.agent();
        AgentSettings settings = new AgentSettings(a.nodeName().isEmpty() ? hostname() : a.nodeName(), config.root().resolve("agent"),
                a.podManifestPath(), a.podLogsDir(), a.manifestRescanInterval(), a.runtimeRequestTimeout(), a.imagePullTimeout(),
                a.node(), a.cgroupsPerQos(), a.cgroupRoot(), a.clusterDns(), a.clusterDomain(), a.server(), a.gc(),
                a.eviction(), a.restart());
        StateLock lock = StateLock.acquire(settings.stateDir());
        KubernetesClient api = null;
        try {
            if (a.kubeconfig() != null || a.inCluster()) {
                try {
                    api = a.inCluster() ? ApiClients.inCluster() : ApiClients.fromKubeconfig(a.kubeconfig());
                } catch (IllegalArgumentException e) {
                    throw new ConfigException(e.getMessage());
                }
            }
            if (a.containerRuntimeEndpoint().isEmpty()) {
                Daemon daemon = new Daemon(config);
                try (Daemon.Running runtime = daemon.start()) {
                    ManagedChannel channel = runtime.localChannel();
                    try (Agent agent = Agent.start(settings, lock, channel, api)) {
                        daemon.awaitSignal();
                    } finally {
                        channel.shutdownNow();
                    }
                }
            } else {
                ManagedChannel channel = Grpc.newChannelBuilder(a.containerRuntimeEndpoint(), InsecureChannelCredentials.create())
                        .maxInboundMessageSize(config.grpc().maxMessageSize()).build();
                try (Agent agent = Agent.start(settings, lock, channel, api)) {
                    awaitSignal();
                } finally {
                    channel.shutdownNow();
                    channel.awaitTermination(5, TimeUnit.SECONDS);
                }
            }
        } finally {
            if (api != null) {
                api.close();
            }
            lock.close(); // also when start-up failed; closing twice is harmless
        }
        return 0;
    }

    private static void awaitSignal() throws InterruptedException {
        CountDownLatch stop = new CountDownLatch(1);
        Signal.handle(new Signal("TERM"), s -> {
            LOG.info("received SIG{}, stopping the agent", s.getName());
            stop.countDown();
        });
        Signal.handle(new Signal("INT"), s -> {
            LOG.info("received SIG{}, stopping the agent", s.getName());
            stop.countDown();
        });
        stop.await();
    }

    /** The machine's host name, lower-cased, as the kubelet takes it for the node's name. */
    static String hostname() {
        try {
            String h = Files.readString(Path.of("/proc/sys/kernel/hostname")).trim().toLowerCase(Locale.ROOT);
            if (!h.isEmpty()) {
                return h;
            }
        } catch (IOException e) {
            // fall through
        }
        throw new ConfigException("cannot read the host name for the node's name; give --node-name");
    }
}
