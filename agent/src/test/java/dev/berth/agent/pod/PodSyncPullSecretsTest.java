package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.testing.FakeCri;
import dev.berth.agent.volume.NodeAllocatable;
import dev.berth.agent.volume.ObjectSource;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PodSyncPullSecretsTest {
    @TempDir
    Path dir;

    @Test
    void aPullCarriesThePodsPullSecretForItsRegistryAndAMissingSecretIsAWarning() throws Exception {
        String config = "{\"auths\":{\"registry.example\":{\"username\":\"alice\",\"password\":\"pw\"}}}";
        Secret regcred = new SecretBuilder().withNewMetadata().withName("regcred").withNamespace("shop").endMetadata()
                .withType("kubernetes.io/dockerconfigjson")
                .addToData(".dockerconfigjson", Base64.getEncoder().encodeToString(config.getBytes(StandardCharsets.UTF_8))).build();
        ObjectSource objects = new ObjectSource() {
            @Override
            public Optional<ConfigMap> configMap(String namespace, String name) {
                return Optional.empty();
            }

            @Override
            public Optional<Secret> secret(String namespace, String name) {
                return namespace.equals("shop") && name.equals("regcred") ? Optional.of(regcred) : Optional.empty();
            }

            @Override
            public ServiceAccountToken serviceAccountToken(String namespace, String serviceAccount, List<String> audiences,
                    long expirationSeconds, Pod pod) {
                throw new UnsupportedOperationException();
            }
        };
        List<String> events = new ArrayList<>();
        EventRecorder recorder = (o, type, reason, message) -> events.add(type + " " + reason);
        Pod pod = new PodBuilder().withNewMetadata().withName("web").withNamespace("shop").withUid("uid-web").endMetadata()
                .withNewSpec().addNewImagePullSecret("gone").addNewImagePullSecret("regcred")
                .addNewContainer().withName("app").withImage("registry.example/app:1").withImagePullPolicy("Always").endContainer()
                .addNewContainer().withName("side").withImage("other.example/side:1").withImagePullPolicy("Always").endContainer()
                .endSpec().build();
        try (FakeCri cri = new FakeCri()) {
            PodSync sync = new PodSync(new CriClient(cri.channel(), Duration.ofSeconds(10), Duration.ofSeconds(10)),
                    new PodTranslation(new NodeFacts(1L << 30, List.of(), List.of(), List.of()), dir, objects,
                            new NodeAllocatable(1000, 1L << 30, 0)), recorder);
            sync.sync(pod, name -> true);
            assertEquals(2, cri.pullAuths.size(), cri.pullAuths.toString());
            assertEquals("alice", cri.pullAuths.get(0).getUsername(), "the registry's credentials go with its image");
            assertEquals("pw", cri.pullAuths.get(0).getPassword());
            assertEquals("", cri.pullAuths.get(1).getUsername(), "another registry's image is pulled without them");
        }
        assertTrue(events.contains("Warning FailedToRetrieveImagePullSecret"), events.toString());
    }
}
