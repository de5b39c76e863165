package dev.berth.cli.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One table of the TOML configuration. Typed getters read a key (or give its documented
 * default) and remember that it was read; {@link #requireNoUnknownKeys()} then rejects every key
 * that no getter asked for, with its full dotted name, so a typo is a start-up error rather
 * than a silently ignored setting.
 */
public final class ConfigSection {
    private final String path;
    private final ObjectNode node;
    private final String source;
    private final Set<String> known = new LinkedHashSet<>();
    private final List<ConfigSection> children = new ArrayList<>();

    ConfigSection(String path, ObjectNode node, String source) {
        this.path = path;
        this.node = node;
        this.source = source;
    }

    static ConfigSection empty(String source) {
        return new ConfigSection("", JsonNodeFactory.instance.objectNode(), source);
    }

    private String key(String name) {
        return path.isEmpty() ? name : path + "." + name;
    }

    private ConfigException bad(String name, String expectation, JsonNode value) {
        return new ConfigException("config key '" + key(name) + "' " + expectation + ", got " + value + " (" + source + ")");
    }

    private JsonNode value(String name) {
        known.add(name);
        JsonNode v = node.get(name);
        return v == null || v.isNull() ? null : v;
    }

    public String string(String name, String defaultValue) {
        JsonNode v = value(name);
        if (v == null) {
            return defaultValue;
        }
        if (!v.isTextual()) {
            throw bad(name, "must be a string", v);
        }
        return v.asText();
    }

    public String oneOf(String name, String defaultValue, String... allowed) {
        String v = string(name, defaultValue);
        if (!Arrays.asList(allowed).contains(v)) {
            throw new ConfigException("config key '" + key(name) + "' must be one of " + String.join(", ", allowed)
                    + ", got \"" + v + "\" (" + source + ")");
        }
        return v;
    }

    public long integer(String name, long defaultValue, long min, long max) {
        JsonNode v = value(name);
        if (v == null) {
            return defaultValue;
        }
        if (!v.isIntegralNumber()) {
            throw bad(name, "must be an integer", v);
        }
        long n = v.asLong();
        if (n < min || n > max) {
            throw bad(name, "must be between " + min + " and " + max, v);
        }
        return n;
    }

    public boolean bool(String name, boolean defaultValue) {
        JsonNode v = value(name);
        if (v == null) {
            return defaultValue;
        }
        if (!v.isBoolean()) {
            throw bad(name, "must be true or false", v);
        }
        return v.asBoolean();
    }

    /** A duration written as containerd does: "300ms", "10s", "5m", "1h30m". */
    public Duration duration(String name, Duration defaultValue) {
        JsonNode v = value(name);
        if (v == null) {
            return defaultValue;
        }
        if (!v.isTextual()) {
            throw bad(name, "must be a duration string such as \"10s\" or \"5m\"", v);
        }
        try {
            return Durations.parse(v.asText());
        } catch (IllegalArgumentException e) {
            throw bad(name, "must be a duration such as \"10s\" or \"5m\" (" + e.getMessage() + ")", v);
        }
    }

    public List<String> strings(String name, List<String> defaultValue) {
        JsonNode v = value(name);
        if (v == null) {
            return defaultValue;
        }
        if (!v.isArray()) {
            throw bad(name, "must be an array of strings", v);
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isTextual()) {
                throw bad(name, "must be an array of strings", v);
            }
            out.add(e.asText());
        }
        return List.copyOf(out);
    }

    /**
     * A table of strings by name (labels, quantities by resource), written inline as
     * {@code key = { "example.com/role" = "edge" }}; integers are read as their text.
     */
    public Map<String, String> stringMap(String name, Map<String, String> defaultValue) {
        JsonNode v = value(name);
        if (v == null) {
            return defaultValue;
        }
        if (!v.isObject()) {
            throw bad(name, "must be a table of strings such as { \"a\" = \"b\" }", v);
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = v.properties().iterator(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual() && !e.getValue().isIntegralNumber()) {
                throw bad(name, "must be a table of strings (quote keys that hold dots, such as \"memory.available\")", v);
            }
            out.put(e.getKey(), e.getValue().asText());
        }
        return out;
    }

    /** A nested table; absent tables read as empty ones, so every key keeps its default. */
    public ConfigSection section(String name) {
        JsonNode v = value(name);
        ConfigSection child;
        if (v == null) {
            child = new ConfigSection(key(name), JsonNodeFactory.instance.objectNode(), source);
        } else if (v.isObject()) {
            child = new ConfigSection(key(name), (ObjectNode) v, source);
        } else {
            throw bad(name, "must be a table", v);
        }
        children.add(child);
        return child;
    }

    /** Every sub-table of a table whose keys are names chosen by the operator (handlers, hosts). */
    public Map<String, ConfigSection> namedSections() {
        Map<String, ConfigSection> out = new LinkedHashMap<>();
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            out.put(it.next(), null);
        }
        out.replaceAll((name, ignored) -> section(name));
        return out;
    }

    public boolean has(String name) {
        return node.has(name);
    }

    /** Rejects the first key of this table or its sub-tables that nothing read. */
    public void requireNoUnknownKeys() {
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!known.contains(name)) {
                throw new ConfigException("unknown config key '" + key(name) + "' (" + source + ")");
            }
        }
        children.forEach(ConfigSection::requireNoUnknownKeys);
    }
}
