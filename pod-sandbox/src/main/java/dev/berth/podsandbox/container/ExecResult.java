package dev.berth.podsandbox.container;

/**
 * The outcome of ExecSync. A stream longer than the configured cap is cut there and ends
 * with a note saying so; {@code stdoutTruncated}/{@code stderrTruncated} tell which.
 */
public record ExecResult(int exitCode, byte[] stdout, byte[] stderr, boolean stdoutTruncated, boolean stderrTruncated) {
}
