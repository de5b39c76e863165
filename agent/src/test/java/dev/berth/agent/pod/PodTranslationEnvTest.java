package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.volume.MapObjectSource;
import dev.berth.agent.volume.NodeAllocatable;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.KeyValue;
import dev.berth.cri.v1.Mount;
import dev.berth.agent.volume.VolumeException;
import io.fabric8.kubernetes.api.model.Pod;
import java.nio.file.Path;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Env of every source, in the kubelet's order, and the mounts handed in, in {@link PodTranslation#containerConfig}. */
class PodTranslationEnvTest {
    private static final long GIB = 1L << 30;
    private static final NodeFacts NODE = new NodeFacts(8 * GIB, List.of(), List.of(), List.of());
    private final MapObjectSource objects = new MapObjectSource(Clock.systemUTC());
    private final PodTranslation translation = new PodTranslation(NODE, Path.of("/var/log/pods"), objects,
            new NodeAllocatable(2000, 8 * GIB, 50 * GIB));

    private static Pod pod(String env) {
        return PodTranslationTest.pod("""
                apiVersion: v1
                kind: Pod
                metadata: {name: web, namespace: shop}
                spec:
                  containers:
                  - name: app
                    image: local/web:1
                    resources:
                      limits: {memory: 128Mi, cpu: 1500m}
                      requests: {memory: 100Mi}
                %s
                  - name: side
                    image: local/side:1
                    resources: {limits: {memory: 1Gi}}
                """.formatted(env.indent(4)));
    }

    private Map<String, String> env(Pod pod) {
        ContainerConfig c = translation.containerConfig(pod, pod.getSpec().getContainers().get(0), 0, "i", List.of("10.0.0.9"));
        Map<String, String> out = new LinkedHashMap<>();
        for (KeyValue kv : c.getEnvsList()) {
            out.put(kv.getKey(), kv.getValue().toStringUtf8());
        }
        return out;
    }

    @Test
    void envFromComesFirstThenEnvAndALaterDefinitionWins() {
        objects.configMap("shop", "cfg", new LinkedHashMap<>(Map.of("MODE", "prod", "bad key", "skipped", "1ST", "skipped", "LEVEL", "3")));
        objects.secret("shop", "creds", Map.of("PASSWORD", "hunter2"));
        Map<String, String> env = env(pod("""
                envFrom:
                - configMapRef: {name: cfg}
                - secretRef: {name: creds}
                  prefix: DB_
                env:
                - {name: MODE, value: "dev-$(LEVEL)"}
                - name: KEY
                  valueFrom: {configMapKeyRef: {name: cfg, key: LEVEL}}
                - name: PW
                  valueFrom: {secretKeyRef: {name: creds, key: PASSWORD}}
                - {name: ALL, value: "$(MODE)/$(KEY)/$(DB_PASSWORD)/$(NOPE)"}
                """));
        assertEquals("3", env.get("LEVEL"));
        assertEquals("hunter2", env.get("DB_PASSWORD"));
        assertEquals("dev-3", env.get("MODE"), "env after envFrom, expanded with what came before");
        assertEquals("3", env.get("KEY"));
        assertEquals("hunter2", env.get("PW"));
        assertEquals("dev-3/3/hunter2/$(NOPE)", env.get("ALL"));
        assertTrue(!env.containsKey("bad key") && !env.containsKey("1ST"), "keys that are no env names are skipped: " + env);
        assertEquals("ALL", List.copyOf(env.keySet()).get(env.size() - 1));
    }

    @Test
    void resourceFieldRefsUseTheDivisorAndTheNodesAllocatableWithoutALimit() {
        Map<String, String> env = env(pod("""
                env:
                - name: MEM_LIMIT
                  valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}
                - name: MEM_REQUEST
                  valueFrom: {resourceFieldRef: {resource: requests.memory}}
                - name: CPU_LIMIT
                  valueFrom: {resourceFieldRef: {resource: limits.cpu}}
                - name: CPU_MILLI
                  valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}
                - name: STORAGE
                  valueFrom: {resourceFieldRef: {resource: limits.ephemeral-storage, divisor: 1Gi}}
                - name: SIDE_MEM
                  valueFrom: {resourceFieldRef: {containerName: side, resource: limits.memory, divisor: 1Mi}}
                - name: SIDE_CPU_REQ
                  valueFrom: {resourceFieldRef: {containerName: side, resource: requests.cpu}}
                """));
        assertEquals("128", env.get("MEM_LIMIT"));
        assertEquals(Long.toString(100L << 20), env.get("MEM_REQUEST"));
        assertEquals("2", env.get("CPU_LIMIT"), "1.5 cores rounded up");
        assertEquals("1500", env.get("CPU_MILLI"));
        assertEquals("50", env.get("STORAGE"), "no limit: the node's allocatable");
        assertEquals("1024", env.get("SIDE_MEM"));
        assertEquals("0", env.get("SIDE_CPU_REQ"));
    }

    @Test
    void optionalSourcesThatAreMissingSetNothing() {
        objects.configMap("shop", "cfg", Map.of("A", "1"));
        Map<String, String> env = env(pod("""
                envFrom:
                - configMapRef: {name: nope, optional: true}
                - secretRef: {name: nope, optional: true}
                env:
                - name: X
                  valueFrom: {configMapKeyRef: {name: cfg, key: missing, optional: true}}
                - name: Y
                  valueFrom: {secretKeyRef: {name: nope, key: k, optional: true}}
                - {name: Z, value: z}
                """));
        assertEquals(Map.of("Z", "z"), env);
    }

    @Test
    void aMissingSourceThatIsNotOptionalIsACreateContainerConfigError() {
        objects.configMap("shop", "cfg", Map.of("A", "1"));
        Map<String, String> cases = Map.of(
                "env:\n- name: X\n  valueFrom: {configMapKeyRef: {name: cfg, key: B}}", "env X of container app: configmap \"cfg\" has no key \"B\"",
                "env:\n- name: X\n  valueFrom: {configMapKeyRef: {name: nope, key: B}}", "env X of container app: configmap \"nope\" not found",
                "env:\n- name: X\n  valueFrom: {secretKeyRef: {name: nope, key: B}}", "env X of container app: secret \"nope\" not found",
                "envFrom:\n- configMapRef: {name: nope}", "envFrom of container app: configmap \"nope\" not found",
                "envFrom:\n- secretRef: {name: nope}", "envFrom of container app: secret \"nope\" not found",
                "env:\n- name: X\n  valueFrom: {resourceFieldRef: {resource: limits.gpu}}", "env X of container app: resource field limits.gpu is not supported");
        for (Map.Entry<String, String> e : cases.entrySet()) {
            ContainerConfigException ex = assertThrows(ContainerConfigException.class, () -> env(pod(e.getKey())), e.getKey());
            assertEquals("CreateContainerConfigError", ex.reason());
            assertEquals(e.getValue(), ex.getMessage());
        }
    }

    @Test
    void theMountsAreMadeFromTheContainersEnvironment() {
        Pod pod = pod("env:\n- {name: WHERE, value: logs}");
        ContainerConfig c = translation.containerConfig(pod, pod.getSpec().getContainers().get(0), 0, "i", List.of(),
                env -> List.of(Mount.newBuilder().setContainerPath("/x").setHostPath("/h/" + env.apply("WHERE")).build()));
        assertEquals(List.of(Mount.newBuilder().setContainerPath("/x").setHostPath("/h/logs").build()), c.getMountsList());
        ContainerConfigException e = assertThrows(ContainerConfigException.class, () -> translation.containerConfig(pod,
                pod.getSpec().getContainers().get(0), 0, "i", List.of(), env -> {
                    throw new VolumeException("volume v: subPath \"..\" must not contain '..'");
                }));
        assertEquals("CreateContainerConfigError", e.reason());
        assertEquals("container app: volume v: subPath \"..\" must not contain '..'", e.getMessage());
    }
}
