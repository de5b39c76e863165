package dev.berth.podsandbox.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.common.Json;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The process spec of an exec, patched from the container's runtime spec. */
class ExecSpecTest {
    private static JsonNode spec() throws Exception {
        return Json.mapper().readTree("""
                {"ociVersion":"1.0.2","process":{"terminal":false,"consoleSize":{"height":1,"width":1},
                 "user":{"uid":1000,"gid":1000,"additionalGids":[5]},"args":["sleep","1000"],
                 "env":["PATH=/bin"],"cwd":"/work","capabilities":{"bounding":["CAP_CHOWN"]},
                 "oomScoreAdj":500,"noNewPrivileges":true},"root":{"path":"/rootfs"}}""");
    }

    @Test
    void theExecRunsItsCommandLikeTheContainersProcessWithoutItsOomScore() throws Exception {
        JsonNode spec = spec();
        ObjectNode p = ExecSpec.process(spec, List.of("echo", "hi"), false, 0, 0);
        assertEquals(List.of("echo", "hi"), Json.mapper().convertValue(p.get("args"), List.class));
        assertFalse(p.get("terminal").asBoolean());
        assertFalse(p.has("consoleSize"));
        assertFalse(p.has("oomScoreAdj"));
        assertEquals(spec.get("process").get("user"), p.get("user"));
        assertEquals(spec.get("process").get("capabilities"), p.get("capabilities"));
        assertEquals("/work", p.get("cwd").asText());
        assertEquals(List.of("PATH=/bin"), Json.mapper().convertValue(p.get("env"), List.class), "no TERM without a terminal");
        assertEquals(spec(), spec, "the container's spec is left as it was");
    }

    @Test
    void aTerminalExecGetsTermAndItsSizeUnlessTheEnvironmentNamesATerm() throws Exception {
        ObjectNode p = ExecSpec.process(spec(), List.of("sh"), true, 80, 24);
        assertEquals(true, p.get("terminal").asBoolean());
        assertEquals(24, p.get("consoleSize").get("height").asInt());
        assertEquals(80, p.get("consoleSize").get("width").asInt());
        assertEquals(List.of("PATH=/bin", "TERM=xterm"), Json.mapper().convertValue(p.get("env"), List.class));
        assertFalse(ExecSpec.process(spec(), List.of("sh"), true, 0, 24).has("consoleSize"), "no size unless both are given");
        JsonNode withTerm = spec();
        ((com.fasterxml.jackson.databind.node.ArrayNode) withTerm.get("process").get("env")).add("TERM=vt100");
        assertEquals(List.of("PATH=/bin", "TERM=vt100"),
                Json.mapper().convertValue(ExecSpec.process(withTerm, List.of("sh"), true, 0, 0).get("env"), List.class));
    }
}
