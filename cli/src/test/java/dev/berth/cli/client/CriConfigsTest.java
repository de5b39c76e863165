package dev.berth.cli.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.PodSandboxConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CriConfigsTest {
    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }

    @Test
    void readsCrictlsJsonWithSnakeCaseAndUnknownFields() throws IOException {
        Path f = write("pod.json", """
                {"metadata": {"name": "web", "namespace": "default", "uid": "u1", "attempt": 1},
                 "log_directory": "/tmp/web", "hostname": "web",
                 "linux": {"security_context": {"namespace_options": {"network": 2}}},
                 "some_future_field": {"x": 1}}
                """);
        PodSandboxConfig c = CriConfigs.podConfig(f);
        assertEquals("web", c.getMetadata().getName());
        assertEquals(1, c.getMetadata().getAttempt());
        assertEquals("/tmp/web", c.getLogDirectory());
        assertEquals(NamespaceMode.NODE, c.getLinux().getSecurityContext().getNamespaceOptions().getNetwork());
    }

    @Test
    void readsYamlInLowerCamelCaseWithTextEnvValues() throws IOException {
        Path f = write("c.yaml", """
                metadata:
                  name: app
                image:
                  image: busybox:1.36
                command: [sleep, "60"]
                envs:
                  - key: GREETING
                    value: héllo
                logPath: app.log
                linux:
                  securityContext:
                    namespaceOptions:
                      pid: CONTAINER
                """);
        ContainerConfig c = CriConfigs.containerConfig(f);
        assertEquals("busybox:1.36", c.getImage().getImage());
        assertEquals(java.util.List.of("sleep", "60"), c.getCommandList());
        assertEquals("héllo", c.getEnvs(0).getValue().toStringUtf8(), "an env's text value is taken as text");
        assertEquals("app.log", c.getLogPath());
        assertEquals(NamespaceMode.CONTAINER, c.getLinux().getSecurityContext().getNamespaceOptions().getPid());
    }

    @Test
    void badInputIsAUsageErrorNamingTheFileAndPosition() throws IOException {
        ClientException missing = assertThrows(ClientException.class, () -> CriConfigs.podConfig(dir.resolve("nope.json")));
        assertEquals(ExitCodes.USAGE, missing.exitCode());
        assertTrue(missing.getMessage().contains("no such file"), missing.getMessage());

        ClientException notRegular = assertThrows(ClientException.class, () -> CriConfigs.podConfig(dir));
        assertEquals(ExitCodes.USAGE, notRegular.exitCode());
        assertTrue(notRegular.getMessage().contains("not a regular file"), notRegular.getMessage());

        Path big = dir.resolve("big.json");
        Files.write(big, new byte[(int) CriConfigs.MAX_BYTES + 1]);
        ClientException tooLarge = assertThrows(ClientException.class, () -> CriConfigs.podConfig(big));
        assertEquals(ExitCodes.USAGE, tooLarge.exitCode());
        assertTrue(tooLarge.getMessage().contains("larger than 1 MiB"), tooLarge.getMessage());

        ClientException json = assertThrows(ClientException.class, () -> CriConfigs.podConfig(write("bad.json", "{\n  \"metadata\": {\"name\": ,\n}")));
        assertEquals(ExitCodes.USAGE, json.exitCode());
        assertTrue(json.getMessage().contains("bad.json: not valid JSON at line 2, column"), json.getMessage());

        ClientException yaml = assertThrows(ClientException.class, () -> CriConfigs.podConfig(write("bad.yaml", "metadata:\n  name: [web\n")));
        assertTrue(yaml.getMessage().contains("bad.yaml: not valid YAML at line"), yaml.getMessage());

        ClientException type = assertThrows(ClientException.class, () -> CriConfigs.podConfig(write("type.json", "{\"metadata\": \"web\"}")));
        assertEquals(ExitCodes.USAGE, type.exitCode());
        assertTrue(type.getMessage().contains("not a PodSandboxConfig"), type.getMessage());

        ClientException list = assertThrows(ClientException.class, () -> CriConfigs.podConfig(write("list.yaml", "- a\n- b\n")));
        assertTrue(list.getMessage().contains("expected an object"), list.getMessage());
    }

    @Test
    void tellsAPodManifestFromAContainerConfigAndAPodConfig() {
        assertEquals(CriConfigs.Shape.POD_MANIFEST, CriConfigs.shape(CriConfigs.tree("p", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n")));
        assertEquals(CriConfigs.Shape.CONTAINER_CONFIG, CriConfigs.shape(CriConfigs.tree("c", "{\"metadata\": {\"name\": \"x\"}, \"image\": {\"image\": \"busybox\"}}")));
        assertEquals(CriConfigs.Shape.POD_SANDBOX_CONFIG, CriConfigs.shape(CriConfigs.tree("s", "metadata: {name: x, uid: u}\nlog_directory: /tmp/x\n")));
        assertEquals(CriConfigs.Shape.POD_SANDBOX_CONFIG, CriConfigs.shape(CriConfigs.tree("k", "kind: Pod\n")),
                "kind without apiVersion is no manifest");
    }
}
