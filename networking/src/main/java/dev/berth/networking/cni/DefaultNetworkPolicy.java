package dev.berth.networking.cni;

import dev.berth.common.BerthException;
import dev.berth.host.Command;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * berth's default-network policy: writes its default network into a configuration directory
 * that holds none, follows the kubelet's pod CIDRs while the file is berth's, and releases the
 * leases of its host-local IPAM that no known sandbox holds. Without a default network
 * ({@code defaultNetwork} null) it only reads the directory.
 */
final class DefaultNetworkPolicy {
    /** Logs under the network's name, as it always has. */
    private static final Logger LOG = LoggerFactory.getLogger(CniPodNetwork.class);

    private final CniConfigDirectory configDir;
    private final DefaultNetwork defaultNetwork;
    private final AttachmentCache cache;
    private volatile List<String> podCidrs = List.of();

    DefaultNetworkPolicy(CniConfigDirectory configDir, DefaultNetwork defaultNetwork, AttachmentCache cache) {
        this.configDir = configDir;
        this.defaultNetwork = defaultNetwork;
        this.cache = cache;
    }

    /** Whether berth writes a default network at all. */
    boolean enabled() {
        return defaultNetwork != null;
    }

    /** The default network's name, or null when berth writes none. */
    String networkName() {
        return defaultNetwork == null ? null : defaultNetwork.settings().networkName();
    }

    /** The directory as it is now, after writing the default network into an empty one. */
    CniConfigDirectory.Snapshot snapshot() {
        if (defaultNetwork != null && configDir.candidates().isEmpty()) {
            if (defaultNetwork.writeIfAbsent(configDir, podCidrs)) {
                LOG.info("no CNI network in {}: wrote berth's default network {}", configDir.dir(),
                        defaultNetwork.file(configDir.dir()));
            }
        }
        return configDir.current();
    }

    /** The kubelet's pod CIDRs: berth's default network (when berth wrote it) follows them. */
    void setPodCidrs(List<String> cidrs) {
        this.podCidrs = List.copyOf(cidrs);
        if (defaultNetwork != null && defaultNetwork.updateIfOurs(configDir.dir(), podCidrs)) {
            LOG.info("berth's default network now uses the pod CIDRs {}", podCidrs);
            resetDefaultBridge();
        }
    }

    /**
     * The bridge plugin refuses a gateway address on a bridge that has another one, so after
     * the subnet changed the default bridge is removed (it is made again, with the new gateway,
     * by the next pod) when no attached pod uses it; otherwise it stays until those pods are gone.
     */
    private void resetDefaultBridge() {
        String network = defaultNetwork.settings().networkName();
        String bridge = defaultNetwork.settings().bridge();
        Path sys = Path.of("/sys/class/net", bridge);
        if (!Files.exists(sys.resolve("bridge"))) {
            return;
        }
        for (String id : cache.sandboxIds()) {
            try {
                if (cache.get(id).map(e -> e.network().name().equals(network)).orElse(false)) {
                    LOG.warn("pods still use bridge {} with the old subnet; new pods of the default network fail until they are "
                            + "removed and the bridge is deleted", bridge);
                    return;
                }
            } catch (BerthException e) {
                return;
            }
        }
        try {
            Command.Result r = Command.of("ip", "link", "delete", "dev", bridge).mergeStderr().timeout(Duration.ZERO).execute();
            if (r.exitCode() != 0) {
                LOG.warn("cannot delete bridge {} after the pod CIDR changed: {}", bridge, r.stdout().trim());
            }
        } catch (IOException e) {
            LOG.warn("cannot delete bridge {} after the pod CIDR changed: {}", bridge, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Leases in berth's own host-local directory held by containers berth no longer knows (e.g.
     * the cache entry was lost): the lease file names the container on its first line.
     */
    void releaseOrphanLeases(Set<String> keep) {
        if (defaultNetwork == null) {
            return;
        }
        Path dir = defaultNetwork.settings().ipamDataDir().resolve(defaultNetwork.settings().networkName());
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (n.equals("lock") || n.startsWith("last_reserved_ip") || !(n.contains(".") || n.contains(":"))) {
                    continue;
                }
                String owner = Files.readString(p, StandardCharsets.UTF_8).lines().findFirst().orElse("").trim();
                if (!owner.isEmpty() && !keep.contains(owner)) {
                    Files.deleteIfExists(p);
                    LOG.info("released IP lease {} of sandbox {}, which no longer exists", n, owner);
                }
            }
        } catch (IOException e) {
            LOG.warn("cannot scan the IP leases in {}: {}", dir, e.getMessage());
        }
    }
}
