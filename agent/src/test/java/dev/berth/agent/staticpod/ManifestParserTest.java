package dev.berth.agent.staticpod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.pod.KubeletKeys;
import io.fabric8.kubernetes.api.model.Pod;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class ManifestParserTest {
    private static final Path FILE = Path.of("/etc/berth/manifests/web.yaml");
    private final ManifestParser parser = new ManifestParser("Node-1");

    static final String WEB = """
            apiVersion: v1
            kind: Pod
            metadata:
              name: web
              labels: {app: web}
            spec:
              containers:
              - name: app
                image: local/web:1
            """;

    @Test
    void aYamlPodBecomesTheNodesStaticPod() {
        Pod pod = parser.parse(FILE, WEB).get(0);
        assertEquals("web-node-1", pod.getMetadata().getName());
        assertEquals("default", pod.getMetadata().getNamespace());
        assertEquals("node-1", pod.getSpec().getNodeName());
        assertEquals("Always", pod.getSpec().getRestartPolicy());
        String uid = pod.getMetadata().getUid();
        assertTrue(uid.matches("[0-9a-f]{32}"), uid);
        assertEquals(uid, pod.getMetadata().getAnnotations().get(KubeletKeys.CONFIG_HASH));
        assertEquals("file", pod.getMetadata().getAnnotations().get(KubeletKeys.CONFIG_SOURCE));
        assertEquals("web", pod.getMetadata().getLabels().get("app"));
    }

    @Test
    void theUidFollowsTheContentNotTheFormatting() {
        String uid = parser.parse(FILE, WEB).get(0).getMetadata().getUid();
        assertEquals(uid, parser.parse(FILE, WEB.replace("labels: {app: web}", "labels:\n    app: web")).get(0).getMetadata().getUid(),
                "the same pod written differently is the same pod");
        assertEquals(uid, new ManifestParser("node-1").parse(FILE, WEB).get(0).getMetadata().getUid());
        assertNotEquals(uid, parser.parse(FILE, WEB.replace("local/web:1", "local/web:2")).get(0).getMetadata().getUid());
        assertNotEquals(uid, parser.parse(Path.of("/elsewhere.yaml"), WEB).get(0).getMetadata().getUid());
        assertNotEquals(uid, new ManifestParser("node-2").parse(FILE, WEB).get(0).getMetadata().getUid());
    }

    @Test
    void aUidInTheManifestIsKept() {
        Pod pod = parser.parse(FILE, WEB.replace("  name: web\n", "  name: web\n  uid: 1234-abcd\n  namespace: kube-system\n")).get(0);
        assertEquals("1234-abcd", pod.getMetadata().getUid());
        assertEquals("kube-system", pod.getMetadata().getNamespace());
    }

    @Test
    void severalDocumentsAndJsonAndListsAreRead() {
        List<Pod> pods = parser.parse(FILE, WEB + "---\n" + WEB.replace("name: web", "name: db"));
        assertEquals(List.of("web-node-1", "db-node-1"), pods.stream().map(p -> p.getMetadata().getName()).toList());
        assertNotEquals(pods.get(0).getMetadata().getUid(), pods.get(1).getMetadata().getUid());

        String json = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"j\"},"
                + "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i:1\"}]}}";
        assertEquals("j-node-1", parser.parse(FILE, json).get(0).getMetadata().getName());

        String list = "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[" + json + "," + json.replace("\"j\"", "\"k\"") + "]}";
        assertEquals(2, parser.parse(FILE, list).size());
        assertEquals(List.of(), parser.parse(FILE, "  \n"));
    }

    @Test
    void invalidManifestsAreRefusedNamingTheFile() {
        String notAPod = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
        assertTrue(assertThrows(ManifestException.class, () -> parser.parse(FILE, notAPod)).getMessage()
                .contains(FILE + " is not a Pod (kind ConfigMap)"));
        assertTrue(assertThrows(ManifestException.class, () -> parser.parse(FILE, WEB.replace("    image: local/web:1\n", "")))
                .getMessage().contains("has no image"));
        assertTrue(assertThrows(ManifestException.class, () -> parser.parse(FILE, "{ not yaml: [")).getMessage()
                .contains("is not a valid manifest"));
        assertTrue(assertThrows(ManifestException.class, () -> parser.parse(FILE, WEB + "---\n" + WEB)).getMessage()
                .contains("names pod web-node-1 twice"));
        assertTrue(assertThrows(ManifestException.class,
                () -> parser.parse(FILE, WEB.replace("  containers:", "  initContainers:\n  - {name: app, image: x}\n  containers:")))
                .getMessage().contains("names container app twice"));
        assertTrue(assertThrows(ManifestException.class, () -> parser.parse(FILE, WEB.replace("spec:", "spec:\n  restartPolicy: Sometimes")))
                .getMessage().contains("restartPolicy"));
    }
}
