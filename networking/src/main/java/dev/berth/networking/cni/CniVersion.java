package dev.berth.networking.cni;

import java.util.List;

/** CNI specification versions ("0.4.0", "1.0.0", "1.1.0") and what each one allows. */
final class CniVersion {
    /** The versions berth can speak with a plugin chain; older ones lack the result format berth reads. */
    static final List<String> SUPPORTED = List.of("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0");

    private CniVersion() {
    }

    static boolean supported(String version) {
        return SUPPORTED.contains(version);
    }

    /** Compares dotted versions numerically; a malformed part counts as 0. */
    static int compare(String a, String b) {
        String[] x = a.split("\\.");
        String[] y = b.split("\\.");
        for (int i = 0; i < Math.max(x.length, y.length); i++) {
            int c = Integer.compare(part(x, i), part(y, i));
            if (c != 0) {
                return c;
            }
        }
        return 0;
    }

    static boolean atLeast(String version, String minimum) {
        return compare(version, minimum) >= 0;
    }

    private static int part(String[] parts, int i) {
        if (i >= parts.length) {
            return 0;
        }
        try {
            return Integer.parseInt(parts[i]);
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
