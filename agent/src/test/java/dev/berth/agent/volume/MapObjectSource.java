package dev.berth.agent.volume;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** configMaps and secrets held in memory, and tokens numbered in the order they were asked for. */
public final class MapObjectSource implements ObjectSource {
    final Map<String, ConfigMap> configMaps = new ConcurrentHashMap<>();
    final Map<String, Secret> secrets = new ConcurrentHashMap<>();
    final List<String> tokenRequests = new ArrayList<>();
    private final Clock clock;

    public MapObjectSource(Clock clock) {
        this.clock = clock;
    }

    public MapObjectSource configMap(String ns, String name, Map<String, String> data) {
        configMaps.put(ns + "/" + name, new ConfigMapBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata()
                .withData(data).build());
        return this;
    }

    public MapObjectSource secret(String ns, String name, Map<String, String> plain) {
        Map<String, String> data = new java.util.LinkedHashMap<>();
        plain.forEach((k, v) -> data.put(k, Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
        secrets.put(ns + "/" + name, new SecretBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata()
                .withData(data).build());
        return this;
    }

    @Override
    public Optional<ConfigMap> configMap(String namespace, String name) {
        return Optional.ofNullable(configMaps.get(namespace + "/" + name));
    }

    @Override
    public Optional<Secret> secret(String namespace, String name) {
        return Optional.ofNullable(secrets.get(namespace + "/" + name));
    }

    @Override
    public synchronized ServiceAccountToken serviceAccountToken(String namespace, String serviceAccount, List<String> audiences,
            long expirationSeconds, Pod pod) {
        tokenRequests.add(namespace + "/" + serviceAccount + " " + audiences + " " + expirationSeconds + " " + pod.getMetadata().getUid());
        return new ServiceAccountToken("token-" + tokenRequests.size(), clock.instant().plus(Duration.ofSeconds(expirationSeconds)));
    }
}
