package dev.berth.networking.cni;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.common.AtomicFiles;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.common.PrivateFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * The network berth installs when the CNI configuration directory has none: a Linux bridge
 * with a gateway address and hairpin mode, IP masquerading of the subnets by berth itself
 * ({@code berthMasquerade}, one set of rules for all pods rather than the bridge plugin's chain
 * per pod), host-local IPAM on the pod CIDR
 * (or the configured subnet) with its leases in berth's own state directory, and portmap for
 * host ports. The file is marked as berth's, so a later pod CIDR from the kubelet rewrites it,
 * while a file an operator wrote is never touched.
 */
final class DefaultNetwork {
    static final String MARKER = "berthDefaultNetwork";

    private final CniPodNetwork.DefaultNetworkSettings settings;

    DefaultNetwork(CniPodNetwork.DefaultNetworkSettings settings) {
        this.settings = settings;
    }

    CniPodNetwork.DefaultNetworkSettings settings() {
        return settings;
    }

    /** The conflist for these pod CIDRs (the configured subnet when there are none): one range set per IP family. */
    ObjectNode conflist(List<String> podCidrs) {
        String v4 = null;
        String v6 = null;
        for (String c : podCidrs) {
            if (c.contains(":")) {
                v6 = v6 == null ? c : v6;
            } else {
                v4 = v4 == null ? c : v4;
            }
        }
        if (v4 == null && v6 == null) {
            if (settings.subnet().contains(":")) {
                v6 = settings.subnet();
            } else {
                v4 = settings.subnet();
            }
        }
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        root.put("cniVersion", "1.0.0");
        root.put("name", settings.networkName());
        root.put(MARKER, true);
        ArrayNode masquerade = root.putArray(NetworkConfigList.MASQUERADE_KEY);
        ArrayNode plugins = root.putArray("plugins");

        ObjectNode bridge = plugins.addObject();
        bridge.put("type", "bridge");
        bridge.put("bridge", settings.bridge());
        bridge.put("isGateway", true);
        // berth masquerades the whole subnet once (berthMasquerade) instead of a chain per pod
        bridge.put("ipMasq", false);
        bridge.put("hairpinMode", true);
        ObjectNode ipam = bridge.putObject("ipam");
        ipam.put("type", "host-local");
        ipam.put("dataDir", settings.ipamDataDir().toString());
        ArrayNode ranges = ipam.putArray("ranges");
        ArrayNode routes = ipam.putArray("routes");
        if (v4 != null) {
            masquerade.add(v4);
            ranges.addArray().addObject().put("subnet", v4);
            routes.addObject().put("dst", "0.0.0.0/0");
        }
        if (v6 != null) {
            masquerade.add(v6);
            ranges.addArray().addObject().put("subnet", v6);
            routes.addObject().put("dst", "::/0");
        }

        ObjectNode portmap = plugins.addObject();
        portmap.put("type", "portmap");
        portmap.putObject("capabilities").put("portMappings", true);
        return root;
    }

    Path file(Path configDir) {
        return configDir.resolve(settings.fileName());
    }

    /** Writes the default network when the directory holds no network configuration at all. */
    boolean writeIfAbsent(CniConfigDirectory dir, List<String> podCidrs) {
        synchronized (this) {
            if (!dir.candidates().isEmpty()) {
                return false;
            }
            write(dir.dir(), podCidrs);
            return true;
        }
    }

    /** Rewrites berth's own default network for new pod CIDRs; leaves an operator's file alone. True when rewritten. */
    synchronized boolean updateIfOurs(Path configDir, List<String> podCidrs) {
        Path f = file(configDir);
        JsonNode existing;
        try {
            existing = Json.mapper().readTree(Files.readAllBytes(f));
        } catch (NoSuchFileException e) {
            return false;
        } catch (IOException e) {
            return false;
        }
        if (existing == null || !existing.path(MARKER).asBoolean(false)) {
            return false;
        }
        ObjectNode wanted = conflist(podCidrs);
        if (wanted.equals(existing)) {
            return false;
        }
        write(configDir, podCidrs);
        return true;
    }

    private void write(Path configDir, List<String> podCidrs) {
        try {
            Files.createDirectories(configDir);
            PrivateFiles.createDirectories(settings.ipamDataDir());
            // public configuration, 0644 as the network configurations beside it
            AtomicFiles.writeString(file(configDir), Json.mapper().writerWithDefaultPrettyPrinter()
                    .writeValueAsString(conflist(podCidrs)) + "\n", PrivateFiles.READABLE, true);
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot write berth's default CNI network to %s: %s", file(configDir), e.getMessage());
        }
    }
}
