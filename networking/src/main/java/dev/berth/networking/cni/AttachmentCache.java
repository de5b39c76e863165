package dev.berth.networking.cni;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.common.AtomicFiles;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.common.PrivateFiles;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * One file per pod attachment, written before the first plugin runs (so that a crash in the
 * middle of ADD leaves something GC can undo) and rewritten with the chain's result after it.
 * It holds everything DEL needs: the network configuration as it was at ADD, CNI_ARGS, the
 * runtimeConfig values and the result, so DEL works after a restart and after the network
 * configuration changed or disappeared.
 */
final class AttachmentCache {
    private final Path dir;

    AttachmentCache(Path dir) {
        this.dir = dir;
    }

    Path dir() {
        return dir;
    }

    /** A cached attachment; {@code result} is null while ADD has not completed. */
    record Entry(String sandboxId, String ifName, String netns, String cniArgs, ObjectNode capabilityArgs,
                 NetworkConfigList network, JsonNode result) {
        Entry withResult(JsonNode r) {
            return new Entry(sandboxId, ifName, netns, cniArgs, capabilityArgs, network, r);
        }
    }

    private Path file(String sandboxId) {
        return dir.resolve(sandboxId + ".json");
    }

    /** Writes the entry crash-safely and syncs it (before a plugin runs: what a crash leaves must be known). */
    void put(Entry e) {
        put(e, true);
    }

    /**
     * Writes the entry; with {@code durable} false it replaces the previous one atomically but
     * is not synced, so only a power failure can bring the previous entry back. For the result
     * after a completed ADD that is harmless: the previous entry has the same network, netns and
     * arguments without the result, and DEL from it releases the same resources (plugins find
     * them by container id and interface).
     */
    void put(Entry e, boolean durable) {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("kind", "cniCacheV1");
        n.put("containerId", e.sandboxId());
        n.put("ifName", e.ifName());
        n.put("netns", e.netns());
        n.put("cniArgs", e.cniArgs());
        n.set("capabilityArgs", e.capabilityArgs());
        n.set("config", e.network().toJson());
        if (e.result() != null) {
            n.set("result", e.result());
        }
        try {
            AtomicFiles.writeString(file(e.sandboxId()), Json.write(n), PrivateFiles.FILE, durable);
        } catch (IOException ex) {
            throw BerthException.fromIo("cannot write the CNI result cache " + file(e.sandboxId()), dir, ex);
        }
    }

    Optional<Entry> get(String sandboxId) {
        Path f = file(sandboxId);
        JsonNode n;
        try {
            n = Json.mapper().readTree(Files.readAllBytes(f));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw BerthException.internal("cannot read the CNI result cache " + f, e);
        }
        if (n == null || !n.isObject() || !n.path("config").isObject()) {
            throw BerthException.failedPrecondition("the CNI result cache %s is damaged (no network config); remove it after "
                    + "checking the pod's interfaces and IP lease by hand", f);
        }
        NetworkConfigList net;
        try {
            net = NetworkConfigList.fromJson(n.get("config"), f.toString());
        } catch (NetworkConfigList.InvalidConfig e) {
            throw BerthException.failedPrecondition("the CNI result cache %s holds a network config that %s", f, e.getMessage());
        }
        JsonNode caps = n.path("capabilityArgs");
        JsonNode result = n.get("result");
        return Optional.of(new Entry(n.path("containerId").asText(sandboxId), n.path("ifName").asText("eth0"),
                n.path("netns").asText(""), n.path("cniArgs").asText(""),
                caps.isObject() ? (ObjectNode) caps : JsonNodeFactory.instance.objectNode(), net,
                result == null || result.isNull() ? null : result));
    }

    /**
     * Deletes the temporary files of cache writes a kill cut short (they are no attachment: the
     * previous entry, or none, is what the write left). At start-up, before any attach.
     */
    void sweepTemporaries() throws IOException {
        AtomicFiles.sweepTemporaries(dir);
    }

    void remove(String sandboxId) {
        try {
            Files.deleteIfExists(file(sandboxId));
            AtomicFiles.syncDirectory(dir);
        } catch (IOException e) {
            throw BerthException.internal("cannot remove the CNI result cache " + file(sandboxId), e);
        }
    }

    /** The sandbox ids that have a cache file. */
    List<String> sandboxIds() {
        List<String> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.json")) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (!n.startsWith(".")) {
                    out.add(n.substring(0, n.length() - ".json".length()));
                }
            }
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            throw BerthException.internal("cannot list the CNI result cache " + dir, e);
        }
        return out;
    }
}
