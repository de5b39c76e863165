package dev.berth.networking.cni;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The masquerade rules of the networks that ask for them, one {@link SubnetMasquerade} per
 * network: set up before a pod's plugins run, removed when the last pod is gone.
 */
final class Masquerades {
    private final Map<String, SubnetMasquerade> masquerades = new ConcurrentHashMap<>();
    private final String lockDir;
    private final DefaultNetworkPolicy defaultNetwork;
    private final AttachmentCache cache;

    Masquerades(String lockDir, DefaultNetworkPolicy defaultNetwork, AttachmentCache cache) {
        this.lockDir = lockDir;
        this.defaultNetwork = defaultNetwork;
        this.cache = cache;
    }

    /** The rules of {@code network}, known from now on (so they go with its last pod). */
    SubnetMasquerade of(String network) {
        return masquerades.computeIfAbsent(network, n -> new SubnetMasquerade(n, lockDir));
    }

    /**
     * Removes the networks' masquerade rules once no pod is attached any more. Only the default network's rules are looked for when berth has not set up any
     * since it started (rules left by an earlier run).
     */
    void releaseIfIdle() {
        if (defaultNetwork.enabled()) {
            of(defaultNetwork.networkName());
        }
        for (SubnetMasquerade m : masquerades.values()) {
            synchronized (m) {
                // under the rules' lock, which an attach takes only after writing its cache entry
                if (cache.sandboxIds().isEmpty()) {
                    m.removeAll();
                }
            }
        }
    }
}
