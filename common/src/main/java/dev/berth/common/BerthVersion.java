package dev.berth.common;

/** berth's own version, from the jar's manifest (the build's project version). */
public final class BerthVersion {
    private BerthVersion() {
    }

    public static String get() {
        String v = BerthVersion.class.getPackage().getImplementationVersion();
        return v == null ? "0.1.0-dev" : v;
    }
}
