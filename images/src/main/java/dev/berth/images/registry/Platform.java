package dev.berth.images.registry;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Locale;

/** An OCI platform (os, architecture, variant) and how an index entry is matched against it. */
public record Platform(String os, String architecture, String variant) {
    public Platform {
        variant = variant == null ? "" : variant;
    }

    /** The platform berth runs on: linux and the JVM's architecture in OCI spelling. */
    public static Platform host() {
        String arch = System.getProperty("os.arch", "amd64").toLowerCase(Locale.ROOT);
        return switch (arch) {
            case "amd64", "x86_64" -> new Platform("linux", "amd64", "");
            case "aarch64", "arm64" -> new Platform("linux", "arm64", "v8");
            case "arm" -> new Platform("linux", "arm", "v7");
            case "x86", "i386", "i686" -> new Platform("linux", "386", "");
            default -> new Platform("linux", arch, "");
        };
    }

    /** Parses {@code os/arch[/variant]}. */
    public static Platform parse(String s) {
        String[] p = s.split("/");
        return new Platform(p[0], p.length > 1 ? p[1] : "amd64", p.length > 2 ? p[2] : "");
    }

    public static Platform fromJson(JsonNode n) {
        return new Platform(n.path("os").asText(""), n.path("architecture").asText(""), n.path("variant").asText(""));
    }

    /**
     * How well an index entry for {@code candidate} fits this platform: negative when it does
     * not run here, higher is better (an exact variant beats a missing one).
     */
    public int score(Platform candidate) {
        if (!os.equals(candidate.os) || !architecture.equals(candidate.architecture)) {
            return -1;
        }
        String want = normalVariant(architecture, variant);
        String have = normalVariant(candidate.architecture, candidate.variant);
        if (want.equals(have)) {
            return 3;
        }
        if (have.isEmpty()) {
            return 1;
        }
        if (architecture.equals("arm") && !want.isEmpty() && have.compareTo(want) < 0) {
            return 2; // an older ARM variant runs on a newer CPU
        }
        return -1;
    }

    private static String normalVariant(String arch, String variant) {
        return arch.equals("arm64") && variant.equals("v8") ? "" : variant;
    }

    @Override
    public String toString() {
        return os + "/" + architecture + (variant.isEmpty() ? "" : "/" + variant);
    }
}
