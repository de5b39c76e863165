package dev.berth.cli.config;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Reads config.toml (every key optional) and applies command-line overrides. */
public final class ConfigLoader {
    private static final TomlMapper TOML = new TomlMapper();

    private ConfigLoader() {
    }

    /**
     * @param file the file named by --config, or null for the default /etc/berth/config.toml,
     *     which may be absent (then every key takes its default); a file named explicitly must exist
     */
    public static BerthConfig load(Path file, BerthConfig.Overrides overrides) {
        Path path = file != null ? file : BerthConfig.DEFAULT_FILE;
        String text;
        try {
            text = Files.readString(path);
        } catch (NoSuchFileException e) {
            if (file != null) {
                throw new ConfigException("config file " + path + " does not exist");
            }
            return BerthConfig.read(ConfigSection.empty("defaults"), overrides, "defaults");
        } catch (IOException e) {
            throw new ConfigException("cannot read config file " + path + ": " + e.getMessage());
        }
        return parse(text, overrides, path.toString());
    }

    public static BerthConfig parse(String toml, BerthConfig.Overrides overrides, String source) {
        JsonNode tree;
        try {
            tree = TOML.readTree(toml);
        } catch (JacksonException e) {
            String why = e.getOriginalMessage().lines().findFirst().orElse("syntax error");
            throw new ConfigException("config file " + source + " is not valid TOML: " + why
                    + (e.getLocation() != null ? " (line " + e.getLocation().getLineNr() + ")" : ""));
        }
        if (tree == null || tree.isMissingNode()) {
            return BerthConfig.read(ConfigSection.empty(source), overrides, source);
        }
        return BerthConfig.read(new ConfigSection("", (ObjectNode) tree, source), overrides, source);
    }
}
