package dev.berth.criserver.runtime;

/** One CRI Status condition, as the kubelet reads it. */
public record Readiness(String type, boolean ready, String reason, String message) {
    public static final String RUNTIME_READY = "RuntimeReady";
    public static final String NETWORK_READY = "NetworkReady";

    public static Readiness ready(String type) {
        return new Readiness(type, true, "", "");
    }

    public static Readiness notReady(String type, String reason, String message) {
        return new Readiness(type, false, reason, message);
    }

    /** Something that can say whether one part of the node is ready. */
    @FunctionalInterface
    public interface Check {
        Readiness check();
    }
}
