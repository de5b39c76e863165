package dev.berth.networking.cni;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.berth.common.BerthException;
import dev.berth.common.StepTimer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The plugin chain runner with shell-script plugins and no namespace (needs no root): ADD hands
 * each result on as prevResult, DEL runs in reverse and reaches every plugin even after a
 * failure, and each run is reported to the listener.
 */
class PluginChainTest {
    @TempDir
    Path tmp;
    private Path log;
    private PluginChain chain;
    private final List<String> reported = new CopyOnWriteArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        log = tmp.resolve("calls.log");
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        // each plugin logs "<command> <name> <whether stdin had a prevResult>"; "b" fails DEL when told to
        String script = """
                #!/bin/sh
                in=$(cat)
                case "$in" in *prevResult*) prev=prev ;; *) prev=none ;; esac
                echo "$CNI_COMMAND $(basename $0) $prev" >> %1$s
                if [ "$CNI_COMMAND" = DEL ] && [ "$(basename $0)" = berth-chain-b ] && [ -e %2$s ]; then
                  echo '{"cniVersion":"1.0.0","code":11,"msg":"b cannot"}'; exit 1
                fi
                if [ "$CNI_COMMAND" = ADD ]; then
                  echo '{"cniVersion":"1.0.0","ips":[{"address":"10.1.2.3/24"}],"from":"'$(basename $0)'"}'
                fi
                exit 0
                """.formatted(log, tmp.resolve("fail-del"));
        for (String name : List.of("berth-chain-a", "berth-chain-b", "portmap")) {
            Path p = bin.resolve(name);
            Files.writeString(p, script);
            p.toFile().setExecutable(true);
        }
        chain = new PluginChain(new CniPluginExec(List.of(bin), Duration.ofSeconds(30)));
        chain.listen((op, network, nanos, ok) -> reported.add(op + " " + network + " " + ok));
    }

    private AttachmentCache.Entry entry() {
        NetworkConfigList net = NetworkConfigList.parse(("{\"cniVersion\":\"1.0.0\",\"name\":\"chain\",\"plugins\":["
                + "{\"type\":\"berth-chain-a\"},{\"type\":\"berth-chain-b\"}]}").getBytes(StandardCharsets.UTF_8), true, "test");
        return new AttachmentCache.Entry("sb1", "eth0", tmp.resolve("no-netns").toString(), "IgnoreUnknown=1",
                JsonNodeFactory.instance.objectNode(), net, null);
    }

    /** a, then a plugin named portmap that declares the portMappings capability, given {@code mappings}. */
    private AttachmentCache.Entry withPortmap(String mappings) throws IOException {
        NetworkConfigList net = NetworkConfigList.parse(("{\"cniVersion\":\"1.0.0\",\"name\":\"chain\",\"plugins\":["
                + "{\"type\":\"berth-chain-a\"},{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}]}")
                .getBytes(StandardCharsets.UTF_8), true, "test");
        com.fasterxml.jackson.databind.node.ObjectNode caps = JsonNodeFactory.instance.objectNode();
        caps.set("portMappings", dev.berth.common.Json.mapper().readTree(mappings));
        return new AttachmentCache.Entry("sb1", "eth0", tmp.resolve("no-netns").toString(), "IgnoreUnknown=1", caps, net, null);
    }

    @Test
    void portmapWithoutPortMappingsRunsNeitherOnAddNorOnDel() throws IOException {
        AttachmentCache.Entry e = withPortmap("[]");
        JsonNode result = chain.add(e, new StepTimer(false));
        assertEquals("berth-chain-a", result.path("from").asText(), "the result is the previous plugin's, as portmap hands it on");
        chain.delete(e.withResult(result), null);
        assertEquals(List.of("ADD berth-chain-a none", "DEL berth-chain-a prev"), calls());
    }

    @Test
    void portmapWithPortMappingsRunsOnAddAndOnDel() throws IOException {
        AttachmentCache.Entry e = withPortmap("[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"}]");
        JsonNode result = chain.add(e, new StepTimer(false));
        chain.delete(e.withResult(result), null);
        assertEquals(List.of("ADD berth-chain-a none", "ADD portmap prev", "DEL portmap prev", "DEL berth-chain-a prev"), calls());
    }

    private List<String> calls() throws IOException {
        return Files.readAllLines(log);
    }

    @Test
    void addHandsEachResultOnAndReturnsTheLast() throws IOException {
        JsonNode result = chain.add(entry(), new StepTimer(false));
        assertEquals("berth-chain-b", result.path("from").asText());
        assertEquals(List.of("ADD berth-chain-a none", "ADD berth-chain-b prev"), calls());
        assertEquals(List.of(), reported, "ADD is reported by the network, which knows when the whole attach ends");
    }

    @Test
    void delRunsInReverseReachesEveryPluginAndThrowsTheFirstFailure() throws IOException {
        AttachmentCache.Entry attached = entry().withResult(chain.add(entry(), new StepTimer(false)));
        Files.createFile(tmp.resolve("fail-del"));
        BerthException e = assertThrows(BerthException.class, () -> chain.delete(attached, null));
        assertTrue(e.getMessage().contains("b cannot"), e.getMessage());
        assertEquals(List.of("DEL berth-chain-b prev", "DEL berth-chain-a prev"), calls().subList(2, 4),
                "a still gets its DEL after b failed; both see the cached result (0.4.0 and later)");
        assertEquals(List.of("DEL chain false"), reported);

        Files.delete(tmp.resolve("fail-del"));
        chain.delete(attached, null);
        assertEquals(List.of("DEL chain false", "DEL chain true"), reported);
    }
}
