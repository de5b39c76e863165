package dev.berth.agent.volume;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.authentication.TokenRequest;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The API server as the source of configMaps, secrets and tokens: plain GETs (404 is an empty
 * result) and TokenRequests through the {@code serviceaccounts/token} subresource, each token
 * bound to its pod so that it dies with the pod. An object above the API's own size limit is
 * refused rather than written out, so a misbehaving server cannot fill the node's memory.
 */
public final class ApiObjectSource implements ObjectSource {
    private final KubernetesClient api;

    public ApiObjectSource(KubernetesClient api) {
        this.api = api;
    }

    @Override
    public Optional<ConfigMap> configMap(String namespace, String name) {
        ConfigMap cm;
        try {
            cm = api.configMaps().inNamespace(namespace).withName(name).get();
        } catch (KubernetesClientException e) {
            throw new VolumeException("cannot get configMap " + namespace + "/" + name + ": " + e.getMessage(), e);
        }
        if (cm != null) {
            long size = textBytes(cm.getData()) + base64Bytes(cm.getBinaryData());
            if (size > MAX_OBJECT_BYTES) {
                throw new VolumeException("configMap " + namespace + "/" + name + " holds " + size + " bytes, more than the API's limit of "
                        + MAX_OBJECT_BYTES);
            }
        }
        return Optional.ofNullable(cm);
    }

    @Override
    public Optional<Secret> secret(String namespace, String name) {
        Secret s;
        try {
            s = api.secrets().inNamespace(namespace).withName(name).get();
        } catch (KubernetesClientException e) {
            throw new VolumeException("cannot get secret " + namespace + "/" + name + ": " + e.getMessage(), e);
        }
        if (s != null) {
            long size = base64Bytes(s.getData()) + textBytes(s.getStringData());
            if (size > MAX_OBJECT_BYTES) {
                throw new VolumeException("secret " + namespace + "/" + name + " holds " + size + " bytes, more than the API's limit of "
                        + MAX_OBJECT_BYTES);
            }
        }
        return Optional.ofNullable(s);
    }

    @Override
    public ServiceAccountToken serviceAccountToken(String namespace, String serviceAccount, List<String> audiences,
            long expirationSeconds, Pod pod) {
        TokenRequest request = new TokenRequestBuilder()
                .withNewSpec()
                .withAudiences(audiences)
                .withExpirationSeconds(expirationSeconds)
                .withNewBoundObjectRef().withApiVersion("v1").withKind("Pod").withName(pod.getMetadata().getName())
                .withUid(pod.getMetadata().getUid()).endBoundObjectRef()
                .endSpec()
                .build();
        TokenRequest answer;
        try {
            answer = api.serviceAccounts().inNamespace(namespace).withName(serviceAccount).tokenRequest(request);
        } catch (KubernetesClientException e) {
            throw new VolumeException("cannot get a token of service account " + namespace + "/" + serviceAccount + ": " + e.getMessage(), e);
        }
        if (answer == null || answer.getStatus() == null || answer.getStatus().getToken() == null
                || answer.getStatus().getToken().isEmpty()) {
            throw new VolumeException("the API server answered the token request of service account " + namespace + "/" + serviceAccount
                    + " without a token");
        }
        String token = answer.getStatus().getToken();
        if (token.length() > MAX_OBJECT_BYTES) {
            throw new VolumeException("the token of service account " + namespace + "/" + serviceAccount + " is larger than "
                    + MAX_OBJECT_BYTES + " bytes");
        }
        Instant expiry;
        try {
            expiry = Instant.parse(answer.getStatus().getExpirationTimestamp());
        } catch (DateTimeParseException | NullPointerException e) {
            throw new VolumeException("the token of service account " + namespace + "/" + serviceAccount
                    + " came without a valid expirationTimestamp: " + answer.getStatus().getExpirationTimestamp());
        }
        return new ServiceAccountToken(token, expiry);
    }

    private static long textBytes(Map<String, String> m) {
        long n = 0;
        if (m != null) {
            for (Map.Entry<String, String> e : m.entrySet()) {
                n += e.getKey().length() + (e.getValue() == null ? 0 : e.getValue().getBytes(StandardCharsets.UTF_8).length);
            }
        }
        return n;
    }

    /** The decoded size of base64 values (without decoding them), plus their keys. */
    private static long base64Bytes(Map<String, String> m) {
        long n = 0;
        if (m != null) {
            for (Map.Entry<String, String> e : m.entrySet()) {
                n += e.getKey().length() + (e.getValue() == null ? 0 : e.getValue().length() * 3L / 4);
            }
        }
        return n;
    }
}
