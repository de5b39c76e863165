package dev.berth.networking;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.AtomicFiles;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * The node's pod CIDRs, which the kubelet hands over at run time (UpdateRuntimeConfig) and the
 * default network allocates pod IPs from; kept on disk ({@code <root>/runtime-config.json}) so
 * that a restarted berth still knows them before the kubelet sends them again.
 */
public final class PodCidrs {
    private final Path file;
    private final List<Consumer<List<String>>> podCidrListeners = new CopyOnWriteArrayList<>();
    private volatile List<String> podCidrs;

    public PodCidrs(Path root) {
        this.file = root.resolve("runtime-config.json");
        try {
            // writes of this file (or of any other directly in the root) that a kill cut short
            AtomicFiles.sweepTemporaries(root);
        } catch (IOException e) {
            throw BerthException.fromIo("cannot sweep temporary files in " + root, root, e);
        }
        this.podCidrs = load(file);
    }

    private static List<String> load(Path file) {
        try {
            if (!Files.exists(file)) {
                return List.of();
            }
            JsonNode node = Json.mapper().readTree(file.toFile());
            List<String> out = new ArrayList<>();
            node.path("podCidrs").forEach(n -> out.add(n.asText()));
            return List.copyOf(out);
        } catch (IOException e) {
            throw BerthException.internal("cannot read " + file, e);
        }
    }

    public List<String> podCidrs() {
        return podCidrs;
    }

    /** Called with the new pod CIDRs whenever they change (networking uses them for its default network). */
    public void onPodCidrChange(Consumer<List<String>> listener) {
        podCidrListeners.add(listener);
    }

    /**
     * Sets the pod CIDRs from the kubelet's comma-separated value (one per IP family). An empty
     * value leaves the current ones in place, as the kubelet sends it before the node has one.
     */
    public synchronized void updatePodCidr(String value) {
        if (value.isBlank()) {
            return;
        }
        List<String> cidrs = new ArrayList<>();
        for (String part : value.split(",")) {
            cidrs.add(validateCidr(part.trim()));
        }
        if (cidrs.equals(podCidrs)) {
            return;
        }
        try {
            AtomicFiles.writeString(file, Json.write(Map.of("podCidrs", cidrs)));
        } catch (IOException e) {
            throw BerthException.fromIo("cannot store the pod CIDR in " + file, file.getParent(), e);
        }
        podCidrs = List.copyOf(cidrs);
        podCidrListeners.forEach(l -> l.accept(podCidrs));
    }

    static String validateCidr(String cidr) {
        int slash = cidr.indexOf('/');
        if (slash < 0) {
            throw BerthException.invalidArgument("pod CIDR \"%s\" is not in address/prefix form", cidr);
        }
        String addr = cidr.substring(0, slash);
        if (!addr.matches("[0-9a-fA-F:.]+")) {
            throw BerthException.invalidArgument("pod CIDR \"%s\" does not start with an IP address", cidr);
        }
        InetAddress ip;
        int prefix;
        try {
            ip = InetAddress.getByName(addr);
            prefix = Integer.parseInt(cidr.substring(slash + 1));
        } catch (IOException | NumberFormatException e) {
            throw BerthException.invalidArgument("pod CIDR \"%s\" is not valid: %s", cidr, e.getMessage());
        }
        int bits = ip.getAddress().length * 8;
        if (prefix < 0 || prefix > bits) {
            throw BerthException.invalidArgument("pod CIDR \"%s\" has a prefix length outside 0..%d", cidr, bits);
        }
        return cidr;
    }
}
