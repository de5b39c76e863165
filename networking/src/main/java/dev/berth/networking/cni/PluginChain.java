package dev.berth.networking.cni;

import static dev.berth.networking.cni.CniRuntimeConfig.bytes;
import static dev.berth.networking.cni.CniRuntimeConfig.call;
import static dev.berth.networking.cni.CniRuntimeConfig.pluginConfig;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.common.BerthException;
import dev.berth.common.StepTimer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a network's plugin chain for one attachment: ADD in order, DEL in reverse, CHECK, and
 * the GC verb; tells the {@link CniOperationListener} about each run.
 */
final class PluginChain {
    /** Logs under the network's name, as it always has. */
    private static final Logger LOG = LoggerFactory.getLogger(CniPodNetwork.class);

    private final CniPluginExec exec;
    private volatile CniOperationListener listener = CniOperationListener.NONE;

    PluginChain(CniPluginExec exec) {
        this.exec = exec;
    }

    /** Tells {@code listener} about every run from now on (replacing the previous one). */
    void listen(CniOperationListener listener) {
        this.listener = listener == null ? CniOperationListener.NONE : listener;
    }

    /** Reports one chain operation that started at {@code startNanos} (System.nanoTime) to the listener. */
    void completed(CniOperationListener.Operation op, String network, long startNanos, boolean success) {
        try {
            listener.completed(op, network, System.nanoTime() - startNanos, success);
        } catch (RuntimeException e) {
            LOG.debug("the CNI operation listener failed: {}", e.toString());
        }
    }

    /**
     * ADD in order, each plugin's result passed to the next as prevResult; returns the last
     * result. The caller undoes a failure (DEL of the whole chain).
     */
    JsonNode add(AttachmentCache.Entry entry, StepTimer times) {
        NetworkConfigList net = entry.network();
        JsonNode result = null;
        for (ObjectNode plugin : net.plugins()) {
            String type = plugin.get("type").asText();
            ObjectNode conf = pluginConfig(plugin, net, result, entry.capabilityArgs());
            if (result != null && isIdlePortmap(conf)) {
                continue; // it would hand prevResult back unchanged
            }
            JsonNode out = exec.run(type, call("ADD", entry), bytes(conf));
            times.mark(type);
            if (out == null || !out.isObject()) {
                throw BerthException.failedPrecondition("CNI plugin \"%s\" of network \"%s\" returned no result for ADD of container %s",
                        type, net.name(), entry.sandboxId());
            }
            result = out;
        }
        return result;
    }

    /**
     * DEL through the cached chain in reverse. Every plugin gets its DEL even when an earlier
     * one failed, so one broken plugin does not strand the others' resources; the first failure
     * is thrown (the cache entry stays, for a retry or GC).
     */
    void delete(AttachmentCache.Entry entry, Path netnsNow) {
        delete(entry, netnsNow, new StepTimer(false));
    }

    /** As {@link #delete(AttachmentCache.Entry, Path)}, marking each plugin's DEL on {@code times}. */
    void delete(AttachmentCache.Entry entry, Path netnsNow, StepTimer times) {
        Path netns = netnsNow != null ? netnsNow : (entry.netns().isEmpty() ? null : Path.of(entry.netns()));
        String netnsArg = netns != null && NetnsPaths.isNetns(netns) ? netns.toString() : "";
        AttachmentCache.Entry call = new AttachmentCache.Entry(entry.sandboxId(), entry.ifName(), netnsArg, entry.cniArgs(),
                entry.capabilityArgs(), entry.network(), entry.result());
        NetworkConfigList net = entry.network();
        JsonNode prev = CniVersion.atLeast(net.cniVersion(), "0.4.0") ? entry.result() : null;
        BerthException first = null;
        long start = System.nanoTime();
        List<ObjectNode> plugins = new ArrayList<>(net.plugins());
        for (int i = plugins.size() - 1; i >= 0; i--) {
            ObjectNode plugin = plugins.get(i);
            ObjectNode conf = pluginConfig(plugin, net, prev, entry.capabilityArgs());
            if (isIdlePortmap(conf)) {
                continue; // the same (cached) arguments as its ADD, which made nothing to release
            }
            try {
                exec.run(plugin.get("type").asText(), call("DEL", call), bytes(conf));
                times.mark(plugin.get("type").asText());
            } catch (BerthException e) {
                if (BridgeMasqueradeRules.applies(plugin) && BridgeMasqueradeRules.isMissingChainError(e, net.name(), entry.sandboxId())) {
                    // the bridge plugin released the lease and the veth, then stumbled over a masquerade
                    // chain that ADD never made; berth makes sure none of its rules are left
                    BridgeMasqueradeRules.remove(net.name(), entry.sandboxId());
                    continue;
                }
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (netnsArg.isEmpty() && net.plugins().stream().anyMatch(BridgeMasqueradeRules::applies)) {
            try {
                BridgeMasqueradeRules.remove(net.name(), entry.sandboxId());
            } catch (BerthException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        completed(CniOperationListener.Operation.DEL, net.name(), start, first == null);
        if (first != null) {
            throw first;
        }
    }

    /**
     * Whether {@code conf} is the reference portmap plugin's with no port to map. Its ADD then
     * only hands its prevResult back and its DEL returns at once (containernetworking-plugins
     * 1.x; an older DEL removes only the chains of its container, which an ADD without mappings
     * never made), so neither is run: one plugin process less on each. ADD and DEL see the
     * same mappings: DEL takes them from the attachment cached at ADD, also after a restart and
     * for attachments an older berth cached. A portmap first in its chain (no prevResult) still
     * runs, to fail as it always did.
     */
    static boolean isIdlePortmap(ObjectNode conf) {
        if (!"portmap".equals(conf.path("type").asText())) {
            return false;
        }
        JsonNode mappings = conf.path("runtimeConfig").path("portMappings");
        return mappings.isMissingNode() || mappings.isNull() || (mappings.isArray() && mappings.isEmpty());
    }

    /** CHECK through the chain of an attached pod (nothing for versions before 0.4.0 or when the network disables it). */
    void check(AttachmentCache.Entry entry) {
        NetworkConfigList net = entry.network();
        if (!CniVersion.atLeast(net.cniVersion(), "0.4.0") || net.disableCheck()) {
            return;
        }
        long start = System.nanoTime();
        boolean ok = false;
        try {
            for (ObjectNode plugin : net.plugins()) {
                exec.run(plugin.get("type").asText(), call("CHECK", entry),
                        bytes(pluginConfig(plugin, net, entry.result(), entry.capabilityArgs())));
            }
            ok = true;
        } finally {
            completed(CniOperationListener.Operation.CHECK, net.name(), start, ok);
        }
    }

    /** The CNI GC verb (spec 1.1) on every plugin of the current network, naming the attachments still valid. */
    void gc(NetworkConfigList net, AttachmentCache cache, List<String> failures) {
        if (!CniVersion.atLeast(net.cniVersion(), "1.1.0") || net.disableGc()) {
            return;
        }
        ArrayNode valid = JsonNodeFactory.instance.arrayNode();
        for (String id : cache.sandboxIds()) {
            try {
                cache.get(id).filter(e -> e.network().name().equals(net.name()))
                        .ifPresent(e -> valid.addObject().put("containerID", e.sandboxId()).put("ifname", e.ifName()));
            } catch (BerthException e) {
                failures.add(e.getMessage());
            }
        }
        long start = System.nanoTime();
        boolean ok = true;
        for (ObjectNode plugin : net.plugins()) {
            ObjectNode conf = pluginConfig(plugin, net, null, JsonNodeFactory.instance.objectNode());
            conf.set("cni.dev/valid-attachments", valid.deepCopy());
            try {
                exec.run(plugin.get("type").asText(), CniPluginExec.Call.simple("GC", net.name()), bytes(conf));
            } catch (BerthException e) {
                failures.add(e.getMessage());
                ok = false;
            }
        }
        completed(CniOperationListener.Operation.GC, net.name(), start, ok);
    }
}
