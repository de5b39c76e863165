package dev.berth.agent.volume;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Where the API objects that volumes and env refer to come from: configMaps, secrets and
 * service account tokens. {@link ApiObjectSource} asks the API server; {@link #standalone()}
 * refuses every lookup, since a static pod cannot reference API objects (as with the kubelet).
 * Lookups throw {@link VolumeException} when the source cannot answer; a missing object is
 * an empty result, for the caller to judge by its {@code optional}.
 */
public interface ObjectSource {
    /** Objects bigger than this are refused: the API server's own limit on one object. */
    long MAX_OBJECT_BYTES = 1 << 20;

    Optional<ConfigMap> configMap(String namespace, String name);

    Optional<Secret> secret(String namespace, String name);

    /**
     * A token of {@code serviceAccount} bound to {@code pod}, for {@code audiences} (empty: the
     * API server's own), valid {@code expirationSeconds} (the server may shorten it).
     */
    ServiceAccountToken serviceAccountToken(String namespace, String serviceAccount, List<String> audiences, long expirationSeconds,
            Pod pod);

    /** A token and when it expires. */
    record ServiceAccountToken(String token, Instant expiration) {
    }

    /** The source of a standalone agent: every lookup fails, saying why. */
    static ObjectSource standalone() {
        return new ObjectSource() {
            @Override
            public Optional<ConfigMap> configMap(String namespace, String name) {
                throw refused("configMap " + namespace + "/" + name);
            }

            @Override
            public Optional<Secret> secret(String namespace, String name) {
                throw refused("secret " + namespace + "/" + name);
            }

            @Override
            public ServiceAccountToken serviceAccountToken(String namespace, String serviceAccount, List<String> audiences,
                    long expirationSeconds, Pod pod) {
                throw refused("a token of service account " + namespace + "/" + serviceAccount);
            }

            private VolumeException refused(String what) {
                return new VolumeException("cannot get " + what + ": the agent runs without an API server, and a static pod "
                        + "cannot reference API objects");
            }
        };
    }
}
