package dev.berth.cli.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.Locale;

/**
 * How client commands print: {@code table} (the default of list commands), {@code json}
 * (a CRI response message in protobuf's JSON mapping with every field, as crictl prints it) and
 * {@code yaml} (the same tree as YAML). Plus the small formats tables use: short IDs, ages, sizes.
 */
public final class Output {
    /** The {@code -o} choices. */
    public enum Format {
        TABLE, JSON, YAML;

        /** picocli converter: table, json or yaml, any case. */
        public static Format parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "table" -> TABLE;
                case "json" -> JSON;
                case "yaml", "yml" -> YAML;
                default -> throw ClientException.usage("-o is table, json or yaml, got \"" + s + "\"");
            };
        }
    }

    /** How many characters of an ID a table shows, as crictl does. */
    public static final int SHORT_ID = 13;

    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES));

    private Output() {
    }

    /** A message as a JSON tree, every field present (defaults included), field names in lowerCamelCase. */
    public static JsonNode tree(MessageOrBuilder message) {
        try {
            return JSON.readTree(JsonFormat.printer().alwaysPrintFieldsWithNoPresence().print(message));
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("cannot print " + message.getClass().getSimpleName(), e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Prints a message as JSON or YAML. */
    public static void print(PrintWriter out, Format format, MessageOrBuilder message) {
        print(out, format, tree(message));
    }

    /** Prints a tree as JSON or YAML (a table has to be printed by the command). */
    public static void print(PrintWriter out, Format format, JsonNode tree) {
        try {
            switch (format) {
                case JSON -> out.println(JSON.writeValueAsString(tree));
                case YAML -> out.print(YAML.writeValueAsString(tree));
                case TABLE -> throw new IllegalArgumentException("a table is printed by its command");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The first {@link #SHORT_ID} characters of an ID (after any {@code sha256:}). */
    public static String shortId(String id) {
        String s = id.startsWith("sha256:") ? id.substring("sha256:".length()) : id;
        return s.length() <= SHORT_ID ? s : s.substring(0, SHORT_ID);
    }

    /** "About a minute ago", "3 hours ago": how long before now a time in Unix nanoseconds was. */
    public static String ago(long unixNanos, long nowMillis) {
        if (unixNanos <= 0) {
            return "";
        }
        return human(Duration.ofMillis(Math.max(0, nowMillis - unixNanos / 1_000_000))) + " ago";
    }

    /** A duration the way people say it: "Less than a second", "5 seconds", "About a minute", "2 hours", "3 days". */
    public static String human(Duration d) {
        long s = d.toSeconds();
        if (s < 1) {
            return "Less than a second";
        } else if (s == 1) {
            return "1 second";
        } else if (s < 60) {
            return s + " seconds";
        }
        long m = d.toMinutes();
        if (m == 1) {
            return "About a minute";
        } else if (m < 60) {
            return m + " minutes";
        }
        long h = Math.round(d.toSeconds() / 3600.0);
        if (h == 1) {
            return "About an hour";
        } else if (h < 48) {
            return h + " hours";
        } else if (h < 24 * 7 * 2) {
            return h / 24 + " days";
        } else if (h < 24 * 30 * 2) {
            return h / 24 / 7 + " weeks";
        } else if (h < 24 * 365 * 2) {
            return h / 24 / 30 + " months";
        }
        return h / 24 / 365 + " years";
    }

    /** A byte count in decimal units with three significant digits, as crictl prints image sizes: "1.23MB", "512B". */
    public static String size(long bytes) {
        String[] units = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
        double v = bytes;
        int u = 0;
        while (v >= 1000 && u < units.length - 1) {
            v /= 1000;
            u++;
        }
        java.math.BigDecimal n = new java.math.BigDecimal(v).round(new java.math.MathContext(3));
        if (n.compareTo(java.math.BigDecimal.valueOf(1000)) >= 0 && u < units.length - 1) {
            // 999.9 rounds to 1000: that is 1 of the next unit
            n = n.movePointLeft(3).round(new java.math.MathContext(3));
            u++;
        }
        return n.stripTrailingZeros().toPlainString() + units[u];
    }
}
