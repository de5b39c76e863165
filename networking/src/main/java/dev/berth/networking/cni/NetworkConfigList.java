package dev.berth.networking.cni;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.common.Json;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * One CNI network: a named chain of plugin configurations sharing a spec version. Read from a
 * {@code .conflist}, or from a single-plugin {@code .conf}/{@code .json} wrapped into a chain
 * of one. Immutable; {@link #toJson()} is what the attachment cache keeps for DEL.
 *
 * <p>{@code masqueradeSubnets} is berth's own top-level key {@code berthMasquerade}: subnets
 * whose outgoing traffic berth masquerades once for the whole network (see
 * {@link SubnetMasquerade}); plugins never see it.
 */
record NetworkConfigList(String name, String cniVersion, boolean disableCheck, boolean disableGc,
                         List<ObjectNode> plugins, String source, List<String> masqueradeSubnets) {
    static final String MASQUERADE_KEY = "berthMasquerade";
    private static final Pattern CIDR = Pattern.compile("[0-9.]+/[0-9]{1,2}|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*/[0-9]{1,3}");

    NetworkConfigList {
        plugins = List.copyOf(plugins);
        masqueradeSubnets = List.copyOf(masqueradeSubnets);
    }

    /** Parses a file's bytes; {@code conflist} tells whether it is a list or a single plugin config. */
    static NetworkConfigList parse(byte[] bytes, boolean conflist, String source) {
        JsonNode root;
        try {
            root = Json.mapper().readTree(bytes);
        } catch (IOException e) {
            throw new InvalidConfig("is not valid JSON: " + firstLine(e.getMessage()));
        }
        if (root == null || !root.isObject()) {
            throw new InvalidConfig("is not a JSON object");
        }
        if (conflist || root.has("plugins")) {
            return fromList((ObjectNode) root, source);
        }
        return fromSingle((ObjectNode) root, source);
    }

    /** Reads back what {@link #toJson()} wrote. */
    static NetworkConfigList fromJson(JsonNode node, String source) {
        if (node == null || !node.isObject()) {
            throw new InvalidConfig("is not a JSON object");
        }
        return fromList((ObjectNode) node, source);
    }

    private static NetworkConfigList fromList(ObjectNode root, String source) {
        String name = networkName(root);
        String version = requiredString(root, "cniVersion");
        checkVersion(version);
        JsonNode plugins = root.get("plugins");
        if (plugins == null || !plugins.isArray() || plugins.isEmpty()) {
            throw new InvalidConfig("has no \"plugins\" list (or it is empty)");
        }
        List<ObjectNode> out = new ArrayList<>();
        int i = 0;
        for (JsonNode p : plugins) {
            if (!p.isObject()) {
                throw new InvalidConfig("plugins[" + i + "] is not a JSON object");
            }
            JsonNode type = p.get("type");
            if (type == null || !type.isTextual() || type.asText().isBlank()) {
                throw new InvalidConfig("plugins[" + i + "] has no \"type\"");
            }
            checkType(type.asText(), i);
            out.add(((ObjectNode) p).deepCopy());
            i++;
        }
        return new NetworkConfigList(name, version, root.path("disableCheck").asBoolean(false),
                root.path("disableGC").asBoolean(false), out, source, masqueradeSubnets(root));
    }

    private static List<String> masqueradeSubnets(ObjectNode root) {
        JsonNode m = root.get(MASQUERADE_KEY);
        if (m == null || m.isNull()) {
            return List.of();
        }
        if (!m.isArray()) {
            throw new InvalidConfig("has \"" + MASQUERADE_KEY + "\" that is not a list of subnets");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode s : m) {
            if (!s.isTextual() || !CIDR.matcher(s.asText()).matches()) {
                throw new InvalidConfig("has \"" + MASQUERADE_KEY + "\" entry " + s + ", which is not a subnet (address/prefix)");
            }
            out.add(s.asText());
        }
        return out;
    }

    private static NetworkConfigList fromSingle(ObjectNode root, String source) {
        String name = networkName(root);
        String version = requiredString(root, "cniVersion");
        checkVersion(version);
        JsonNode type = root.get("type");
        if (type == null || !type.isTextual() || type.asText().isBlank()) {
            throw new InvalidConfig("has no \"type\"");
        }
        checkType(type.asText(), 0);
        return new NetworkConfigList(name, version, false, false, List.of(root.deepCopy()), source, List.of());
    }

    /** The network name, which the CNI specification restricts to letters, digits, '_', '.' and '-'. */
    private static String networkName(ObjectNode root) {
        String name = requiredString(root, "name");
        if (!name.matches("[a-zA-Z0-9][a-zA-Z0-9_.\\-]*")) {
            throw new InvalidConfig("has network name \"" + name + "\", which is not letters, digits, '_', '.' and '-'");
        }
        return name;
    }

    private static String requiredString(ObjectNode root, String key) {
        JsonNode v = root.get(key);
        if (v == null || !v.isTextual() || v.asText().isBlank()) {
            throw new InvalidConfig("has no \"" + key + "\"");
        }
        return v.asText();
    }

    private static void checkVersion(String version) {
        if (!CniVersion.supported(version)) {
            throw new InvalidConfig("has cniVersion \"" + version + "\", berth supports " + String.join(", ", CniVersion.SUPPORTED));
        }
    }

    private static void checkType(String type, int index) {
        if (type.contains("/") || type.equals(".") || type.equals("..")) {
            throw new InvalidConfig("plugins[" + index + "] has type \"" + type + "\", which is not a plain plugin name");
        }
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    List<String> pluginTypes() {
        return plugins.stream().map(p -> p.get("type").asText()).toList();
    }

    ObjectNode toJson() {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("cniVersion", cniVersion);
        n.put("name", name);
        if (disableCheck) {
            n.put("disableCheck", true);
        }
        if (disableGc) {
            n.put("disableGC", true);
        }
        if (!masqueradeSubnets.isEmpty()) {
            ArrayNode m = n.putArray(MASQUERADE_KEY);
            masqueradeSubnets.forEach(m::add);
        }
        ArrayNode arr = n.putArray("plugins");
        plugins.forEach(p -> arr.add(p.deepCopy()));
        return n;
    }

    /** A configuration file that cannot be used; the message completes "file X ...". */
    static final class InvalidConfig extends RuntimeException {
        private static final long serialVersionUID = 1L;

        InvalidConfig(String message) {
            super(message);
        }
    }
}
