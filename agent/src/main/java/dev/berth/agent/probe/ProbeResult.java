package dev.berth.agent.probe;

/**
 * What one run of an action (exec, httpGet, tcpSocket, grpc) found, as the kubelet's probers
 * tell it: success, success with a warning (an HTTP redirect to another host, not followed),
 * failure, or unknown (the action could not be run: the result is thrown away). The message is
 * what the Unhealthy or ProbeWarning event says.
 */
public record ProbeResult(Outcome outcome, String message) {
    public enum Outcome {
        SUCCESS, WARNING, FAILURE, UNKNOWN
    }

    public static ProbeResult success(String message) {
        return new ProbeResult(Outcome.SUCCESS, message);
    }

    public static ProbeResult warning(String message) {
        return new ProbeResult(Outcome.WARNING, message);
    }

    public static ProbeResult failure(String message) {
        return new ProbeResult(Outcome.FAILURE, message);
    }

    public static ProbeResult unknown(String message) {
        return new ProbeResult(Outcome.UNKNOWN, message);
    }

    /** Success or warning: the probe passed. */
    public boolean passed() {
        return outcome == Outcome.SUCCESS || outcome == Outcome.WARNING;
    }
}
