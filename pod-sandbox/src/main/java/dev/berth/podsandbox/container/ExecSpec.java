package dev.berth.podsandbox.container;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.common.Json;
import java.util.List;

/**
 * The process spec of an exec ({@code runtime exec --process}): the container's own process
 * from its runtime spec with the exec's command and terminal. It is patched as JSON, not read
 * into berth's spec model, so every field of the container's process (user, env,
 * capabilities, rlimits, labels) reaches the exec as the runtime got it.
 */
final class ExecSpec {
    private ExecSpec() {
    }

    /**
     * The process of {@code runtimeSpec} running {@code cmd}, with a terminal when {@code tty}
     * (of {@code width} x {@code height} characters when both are positive), without the
     * container's OOM score adjustment.
     */
    static ObjectNode process(JsonNode runtimeSpec, List<String> cmd, boolean tty, int width, int height) {
        ObjectNode process = (ObjectNode) runtimeSpec.get("process").deepCopy();
        process.set("args", Json.mapper().valueToTree(cmd));
        process.put("terminal", tty);
        process.remove("consoleSize");
        if (tty) {
            withTerm(process);
            if (width > 0 && height > 0) {
                process.putObject("consoleSize").put("height", height).put("width", width);
            }
        }
        process.remove("oomScoreAdj");
        return process;
    }

    /** A terminal program needs TERM: the process gets {@code xterm} unless its environment names one. */
    private static void withTerm(ObjectNode process) {
        ArrayNode env = process.has("env") && process.get("env").isArray()
                ? (ArrayNode) process.get("env") : process.putArray("env");
        for (JsonNode e : env) {
            if (e.asText().startsWith("TERM=")) {
                return;
            }
        }
        env.add("TERM=xterm");
    }
}
