package dev.berth.agent.staticpod;

import dev.berth.agent.pod.KubeletKeys;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.KubernetesList;
import io.fabric8.kubernetes.api.model.KubernetesResource;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Static pod manifests: a file's YAML or JSON documents (one or several, or a v1 List) as
 * pods the way the kubelet turns them into pods of its node: named {@code <name>-<node>},
 * namespace {@code default} unless given, {@code spec.nodeName} set, and, unless the
 * manifest gives one, a uid that is an MD5 of the document's content, the node and the file
 * (so a changed document is a new pod and an unchanged one the same pod across restarts),
 * recorded in the {@code kubernetes.io/config.hash} annotation with {@code config.source: file}.
 */
public final class ManifestParser {
    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
    /** A pod name, and the name part of the node suffix: a DNS subdomain. */
    private static final String DNS_SUBDOMAIN = "[a-z0-9]([-a-z0-9.]*[a-z0-9])?";

    private final String nodeName;

    public ManifestParser(String nodeName) {
        this.nodeName = nodeName.toLowerCase(Locale.ROOT);
    }

    /**
     * The pods of one manifest file.
     * @throws ManifestException naming the file and the document when it is not a valid pod manifest
     */
    public List<Pod> parse(Path file, String content) {
        List<Pod> pods = new ArrayList<>();
        List<Object> documents = documents(file, content);
        Set<String> containerNames = new HashSet<>();
        for (int i = 0; i < documents.size(); i++) {
            Object doc = documents.get(i);
            String where = file + (documents.size() > 1 ? " (document " + (i + 1) + ")" : "");
            if (!(doc instanceof Pod pod)) {
                throw new ManifestException(where + " is not a Pod (kind " + kind(doc) + ")");
            }
            containerNames.clear();
            pods.add(complete(where, file, pod, containerNames));
        }
        Set<String> names = new HashSet<>();
        for (Pod p : pods) {
            if (!names.add(p.getMetadata().getNamespace() + "/" + p.getMetadata().getName())) {
                throw new ManifestException(file + " names pod " + p.getMetadata().getName() + " twice");
            }
        }
        return pods;
    }

    private static List<Object> documents(Path file, String content) {
        if (content.isBlank()) {
            return List.of();
        }
        Object parsed;
        try {
            parsed = SERIALIZATION.unmarshal(new ByteArrayInputStream(content.getBytes(StandardCharsets.UTF_8)));
        } catch (RuntimeException e) {
            throw new ManifestException(file + " is not a valid manifest: " + firstLine(e));
        }
        List<Object> out = new ArrayList<>();
        if (parsed instanceof List<?> list) {
            for (Object o : list) {
                if (o instanceof KubernetesList inner) {
                    out.addAll(inner.getItems());
                } else if (o != null) {
                    out.add(o);
                }
            }
        } else if (parsed instanceof KubernetesList list) {
            out.addAll(list.getItems());
        } else if (parsed != null) {
            out.add(parsed);
        }
        return out;
    }

    private Pod complete(String where, Path file, Pod pod, Set<String> containerNames) {
        ObjectMeta meta = pod.getMetadata();
        if (meta == null || meta.getName() == null || meta.getName().isEmpty()) {
            throw new ManifestException(where + ": the pod has no metadata.name");
        }
        if (pod.getSpec() == null || pod.getSpec().getContainers().isEmpty()) {
            throw new ManifestException(where + ": pod " + meta.getName() + " has no containers");
        }
        List<Container> all = new ArrayList<>(pod.getSpec().getInitContainers());
        all.addAll(pod.getSpec().getContainers());
        for (Container c : all) {
            if (c.getName() == null || !c.getName().matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")) {
                throw new ManifestException(where + ": pod " + meta.getName() + " has a container without a valid name (" + c.getName() + ")");
            }
            if (!containerNames.add(c.getName())) {
                throw new ManifestException(where + ": pod " + meta.getName() + " names container " + c.getName() + " twice");
            }
            if (c.getImage() == null || c.getImage().isBlank()) {
                throw new ManifestException(where + ": container " + c.getName() + " of pod " + meta.getName() + " has no image");
            }
        }
        String restart = pod.getSpec().getRestartPolicy();
        if (restart != null && !List.of("Always", "OnFailure", "Never").contains(restart)) {
            throw new ManifestException(where + ": restartPolicy must be Always, OnFailure or Never, got " + restart);
        }
        String uid = meta.getUid();
        if (uid == null || uid.isEmpty()) {
            uid = uid(SERIALIZATION.asJson(pod), nodeName, file);
        }
        String name = meta.getName() + "-" + nodeName;
        if (name.length() > 253 || !name.matches(DNS_SUBDOMAIN)) {
            throw new ManifestException(where + ": pod name " + name + " is not a DNS subdomain");
        }
        meta.setName(name);
        if (meta.getNamespace() == null || meta.getNamespace().isEmpty()) {
            meta.setNamespace("default");
        }
        meta.setUid(uid);
        Map<String, String> annotations = meta.getAnnotations() == null ? new HashMap<>() : new HashMap<>(meta.getAnnotations());
        annotations.put(KubeletKeys.CONFIG_HASH, uid);
        annotations.put(KubeletKeys.CONFIG_SOURCE, KubeletKeys.SOURCE_FILE);
        meta.setAnnotations(annotations);
        pod.getSpec().setNodeName(nodeName);
        if (restart == null) {
            pod.getSpec().setRestartPolicy("Always");
        }
        return pod;
    }

    /** MD5 (hex) of the document as parsed, then {@code host:<node>}, then {@code file:<path>}. */
    static String uid(String documentJson, String nodeName, Path file) {
        try {
            MessageDigest md5 = MessageDigest.getInstance("MD5");
            md5.update(documentJson.getBytes(StandardCharsets.UTF_8));
            md5.update(("host:" + nodeName).getBytes(StandardCharsets.UTF_8));
            md5.update(("file:" + file).getBytes(StandardCharsets.UTF_8));
            return java.util.HexFormat.of().formatHex(md5.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String kind(Object doc) {
        if (doc instanceof io.fabric8.kubernetes.api.model.HasMetadata h) {
            return h.getKind();
        }
        return doc instanceof KubernetesResource ? doc.getClass().getSimpleName() : String.valueOf(doc);
    }

    private static String firstLine(RuntimeException e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.lines().findFirst().orElse(m);
    }
}
