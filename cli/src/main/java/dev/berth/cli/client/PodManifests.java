package dev.berth.cli.client;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;

/**
 * A Kubernetes Pod manifest for {@code berth run}, read as the agent reads static pods (fabric8's
 * serialization) and checked for what a node alone can run: no API server is there, so
 * volumes and env from configMaps, secrets and projected service-account tokens are refused
 * (exit 2), as are persistent volume claims and other volume kinds; emptyDir (on disk),
 * hostPath and downwardAPI volumes are made as the agent makes them.
 */
final class PodManifests {
    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

    private PodManifests() {
    }

    /** The pod of {@code file} (already checked to be {@code kind: Pod}), with namespace and uid filled in. */
    static Pod parse(Path file) {
        String text = CriConfigs.read(file);
        Object parsed;
        try {
            parsed = SERIALIZATION.unmarshal(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)));
        } catch (RuntimeException e) {
            String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            throw ClientException.usage(file + ": not a valid Pod manifest: " + m.lines().findFirst().orElse(m));
        }
        if (parsed instanceof List<?> l && l.size() == 1) {
            parsed = l.get(0);
        }
        if (!(parsed instanceof Pod pod)) {
            throw ClientException.usage(file + ": not one Pod (berth run takes one pod per file)");
        }
        check(file, pod);
        if (pod.getMetadata().getNamespace() == null || pod.getMetadata().getNamespace().isEmpty()) {
            pod.getMetadata().setNamespace("default");
        }
        if (pod.getMetadata().getUid() == null || pod.getMetadata().getUid().isEmpty()) {
            pod.getMetadata().setUid(UUID.randomUUID().toString());
        }
        return pod;
    }

    /** What the pod asks that berth run cannot give, as a usage error naming it. */
    static void check(Path file, Pod pod) {
        if (pod.getMetadata() == null || pod.getMetadata().getName() == null || pod.getMetadata().getName().isEmpty()) {
            throw ClientException.usage(file + ": the pod has no metadata.name");
        }
        String name = pod.getMetadata().getName();
        if (pod.getSpec() == null || pod.getSpec().getContainers().isEmpty()) {
            throw ClientException.usage(file + ": pod " + name + " has no containers");
        }
        List<String> refused = new ArrayList<>();
        for (Volume v : pod.getSpec().getVolumes()) {
            if (v.getEmptyDir() != null) {
                if ("Memory".equals(v.getEmptyDir().getMedium())) {
                    refused.add("volume " + v.getName() + ": emptyDir of medium Memory (a tmpfs berth rmp would not unmount)");
                }
            } else if (v.getHostPath() == null && v.getDownwardAPI() == null) {
                refused.add("volume " + v.getName() + ": " + kind(v) + " (only emptyDir, hostPath and downwardAPI volumes can be made without an API server)");
            }
        }
        List<Container> all = new ArrayList<>(pod.getSpec().getInitContainers());
        all.addAll(pod.getSpec().getContainers());
        Set<String> names = new HashSet<>();
        for (Container c : all) {
            if (c.getName() == null || !c.getName().matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")) {
                refused.add("a container without a valid name (" + c.getName() + ")");
            } else if (!names.add(c.getName())) {
                refused.add("container " + c.getName() + " named twice");
            }
            if (c.getImage() == null || c.getImage().isBlank()) {
                refused.add("container " + c.getName() + " has no image");
            }
            if (!c.getEnvFrom().isEmpty()) {
                refused.add("container " + c.getName() + ": envFrom needs an API server");
            }
            for (EnvVar e : c.getEnv()) {
                if (e.getValueFrom() != null && (e.getValueFrom().getConfigMapKeyRef() != null || e.getValueFrom().getSecretKeyRef() != null)) {
                    refused.add("container " + c.getName() + ": env " + e.getName() + " from a configMap or secret needs an API server");
                }
            }
        }
        if (!refused.isEmpty()) {
            throw ClientException.usage(file + ": pod " + name + " cannot run without an API server: " + String.join("; ", refused));
        }
    }

    private static String kind(Volume v) {
        if (v.getConfigMap() != null) {
            return "configMap";
        }
        if (v.getSecret() != null) {
            return "secret";
        }
        if (v.getProjected() != null) {
            return "projected";
        }
        if (v.getPersistentVolumeClaim() != null) {
            return "persistentVolumeClaim";
        }
        if (v.getImage() != null) {
            return "image";
        }
        return "this kind";
    }
}
