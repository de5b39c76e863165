package dev.berth.cli.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.Pod;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PodManifestsTest {
    @TempDir
    Path dir;

    @Test
    void aPodGetsANamespaceAndUidAndKeepsItsContainers() throws IOException {
        Path f = Files.writeString(dir.resolve("pod.yaml"), """
                apiVersion: v1
                kind: Pod
                metadata: {name: web}
                spec:
                  initContainers: [{name: setup, image: busybox, command: [true]}]
                  containers: [{name: app, image: busybox, command: [sleep, "60"]}]
                  volumes: [{name: scratch, emptyDir: {}}, {name: etc, hostPath: {path: /etc}}]
                """);
        assertEquals(CriConfigs.Shape.POD_MANIFEST, CriConfigs.shape(CriConfigs.tree(f)));
        Pod p = PodManifests.parse(f);
        assertEquals("default", p.getMetadata().getNamespace());
        assertFalse(p.getMetadata().getUid().isEmpty());
        assertEquals("setup", p.getSpec().getInitContainers().get(0).getName());
    }

    @Test
    void whatNeedsAnApiServerIsRefusedWithExitCode2() throws IOException {
        Path f = Files.writeString(dir.resolve("pod.yaml"), """
                apiVersion: v1
                kind: Pod
                metadata: {name: web}
                spec:
                  containers:
                    - name: app
                      image: busybox
                      env: [{name: PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}]
                  volumes: [{name: conf, configMap: {name: web-conf}}, {name: ram, emptyDir: {medium: Memory}}]
                """);
        ClientException e = assertThrows(ClientException.class, () -> PodManifests.parse(f));
        assertEquals(ExitCodes.USAGE, e.exitCode());
        assertTrue(e.getMessage().contains("volume conf: configMap"), e.getMessage());
        assertTrue(e.getMessage().contains("emptyDir of medium Memory"), e.getMessage());
        assertTrue(e.getMessage().contains("env PASSWORD from a configMap or secret"), e.getMessage());
    }

    @Test
    void aManifestThatIsNoPodIsRefused() throws IOException {
        Path f = Files.writeString(dir.resolve("svc.yaml"), "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n");
        assertEquals(ExitCodes.USAGE, assertThrows(ClientException.class, () -> PodManifests.parse(f)).exitCode());
    }
}
