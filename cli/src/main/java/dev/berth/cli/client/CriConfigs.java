package dev.berth.cli.client;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.PodSandboxConfig;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Base64;

/**
 * The config files of runp, create and run: a PodSandboxConfig or ContainerConfig in crictl's
 * shape, JSON or YAML, field names in lowerCamelCase or snake_case (protobuf's JSON mapping
 * accepts both), unknown fields ignored as crictl ignores them; or a Kubernetes Pod manifest.
 * A file that is missing, not a regular file, larger than {@link #MAX_BYTES} or not valid JSON
 * or YAML is a usage error (exit 2) naming the file and, for bad syntax, the line and column.
 */
final class CriConfigs {
    /** The largest config file read: far above any real config, small enough to hold in memory. */
    static final long MAX_BYTES = 1 << 20;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    /** What a file holds. */
    enum Shape { POD_MANIFEST, CONTAINER_CONFIG, POD_SANDBOX_CONFIG }

    private CriConfigs() {
    }

    /** The file's text, checked: exists, is a regular file (a symlink to one is fine), at most {@link #MAX_BYTES}. */
    static String read(Path file) {
        if (!Files.exists(file)) {
            throw ClientException.usage(file + ": no such file");
        }
        if (!Files.isRegularFile(file)) {
            throw ClientException.usage(file + ": not a regular file");
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] b = in.readNBytes((int) MAX_BYTES + 1); // a file growing meanwhile is bounded too
            if (b.length > MAX_BYTES) {
                throw ClientException.usage(file + ": larger than " + (MAX_BYTES >> 20) + " MiB; not a config file");
            }
            return new String(b, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw ClientException.usage(file + ": no such file");
        } catch (IOException e) {
            throw ClientException.usage(file + ": cannot read: " + e.getMessage());
        }
    }

    /** The file's document as a tree: JSON when it starts with '{', else YAML (the first document). */
    static JsonNode tree(Path file) {
        return tree(file.toString(), read(file));
    }

    static JsonNode tree(String name, String text) {
        String t = text.strip();
        boolean json = t.startsWith("{");
        try {
            JsonNode n = (json ? JSON : YAML).readTree(text);
            if (n == null || n.isMissingNode() || n.isNull()) {
                throw ClientException.usage(name + ": empty");
            }
            if (!n.isObject()) {
                throw ClientException.usage(name + ": expected an object (a map of fields), got " + n.getNodeType().toString().toLowerCase());
            }
            return n;
        } catch (JsonProcessingException e) {
            JsonLocation l = e.getLocation();
            String where = l == null ? "" : " at line " + l.getLineNr() + ", column " + l.getColumnNr();
            throw ClientException.usage(name + ": not valid " + (json ? "JSON" : "YAML") + where + ": " + e.getOriginalMessage());
        }
    }

    /** A Kubernetes Pod manifest ({@code kind: Pod}), a ContainerConfig (it names an image) or else a PodSandboxConfig. */
    static Shape shape(JsonNode tree) {
        if ("Pod".equals(tree.path("kind").asText()) && tree.has("apiVersion")) {
            return Shape.POD_MANIFEST;
        }
        if (tree.has("image") || tree.has("command") && !tree.has("dns_config") && !tree.has("dnsConfig")) {
            return Shape.CONTAINER_CONFIG;
        }
        return Shape.POD_SANDBOX_CONFIG;
    }

    static PodSandboxConfig podConfig(Path file) {
        return parse(file, tree(file), PodSandboxConfig.newBuilder());
    }

    static ContainerConfig containerConfig(Path file) {
        return parse(file, tree(file), ContainerConfig.newBuilder());
    }

    /** The tree as the message {@code b} builds; a field of the wrong type is a usage error naming the file. */
    @SuppressWarnings("unchecked")
    static <M extends Message> M parse(Path file, JsonNode tree, Message.Builder b) {
        JsonNode t = tree.deepCopy();
        if (b instanceof ContainerConfig.Builder) {
            envValuesAsBytes(t);
        }
        try {
            JsonFormat.parser().ignoringUnknownFields().merge(JSON.writeValueAsString(t), b);
        } catch (InvalidProtocolBufferException e) {
            throw ClientException.usage(file + ": not a " + b.getDescriptorForType().getName() + ": " + e.getMessage());
        } catch (JsonProcessingException e) {
            throw ClientException.usage(file + ": " + e.getOriginalMessage());
        }
        return (M) b.build();
    }

    /** An env's value is bytes on berth's wire (string elsewhere; the same encoding): crictl files give text, JSON bytes are base64. */
    private static void envValuesAsBytes(JsonNode t) {
        for (JsonNode env : t.path("envs")) {
            if (env instanceof ObjectNode o && o.path("value").isTextual()) {
                o.put("value", Base64.getEncoder().encodeToString(o.path("value").asText().getBytes(StandardCharsets.UTF_8)));
            }
        }
    }

}
