package dev.berth.cli.bench;

import java.util.List;
import java.util.Map;

/** What a bench run found, as written to JSON and rendered as a table and HTML. */
final class Results {
    private Results() {
    }

    /** The whole bench: one run per endpoint, A first. */
    record Bench(String runId, String startedAt, Settings settings, List<Run> runs) {
    }

    /**
     * What the command line chose; {@code warmupRounds} rounds of read-only calls and
     * {@code warmupPods} pods warmed the bench's client before each runtime's measured phases,
     * {@code order} says which runtime went first ("ab" or "ba").
     */
    record Settings(String image, int iterations, int pods, int concurrency, String pidMode, long stopTimeoutSeconds,
                    long callTimeoutSeconds, List<String> helpers, int warmupRounds, int warmupPods, String order) {
    }

    /**
     * One runtime's run of the scenario. {@code firstCalls}: the first call of each kind this
     * bench made on the runtime (one sample each), after the client was warmed on a fake runtime
     * and before anything else reached this one; {@code warmupSeconds}: the unmeasured warm-up
     * on the runtime (not part of any figure, part of {@code wallSeconds}).
     */
    record Run(String label, String endpoint, String runtimeName, String runtimeVersion, long daemonPid,
               String loadAverageStart, String loadAverageEnd, double wallSeconds, double warmupSeconds,
               Map<String, Call> firstCalls, Map<String, Call> calls, Map<String, Throughput> throughput, Load load, List<MemoryPoint> memory, List<String> notes) {
    }

    /** The latencies of one call in milliseconds, in the order they were measured, and its failures. */
    record Call(String name, int count, int errors, double p50, double p95, double p99, double mean,
                List<Double> samplesMs, String firstError) {
        static Call of(String name, List<Double> samplesMs, int errors, String firstError) {
            return new Call(name, samplesMs.size(), errors, Stats.percentile(samplesMs, 50), Stats.percentile(samplesMs, 95),
                    Stats.percentile(samplesMs, 99), Stats.mean(samplesMs), List.copyOf(samplesMs), firstError);
        }
    }

    /**
     * A stream's throughput in MB/s (10^6 bytes per second), one sample per round, and its
     * failures; {@code bytesVerified} counts the bytes of every round that came back unchanged.
     */
    record Throughput(String name, int count, int errors, double p50, double min, double max, long bytesPerRound, long bytesVerified,
                      List<Double> samplesMbPerSecond, String firstError) {
        static Throughput of(String name, List<Double> samples, int errors, long bytesPerRound, long bytesVerified, String firstError) {
            return new Throughput(name, samples.size(), errors, Stats.percentile(samples, 50),
                    samples.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN),
                    samples.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN),
                    bytesPerRound, bytesVerified, List.copyOf(samples), firstError);
        }
    }

    /** The load phase: {@code pods} pods started by {@code concurrency} clients, then removed by as many. */
    record Load(int pods, int concurrency, int running, double startWallSeconds, double podsPerSecond,
                double removeWallSeconds, double removedPerSecond, int errors, double daemonCpuSecondsPerPod) {
    }

    /** PSS in bytes at one moment (-1: could not be read). */
    record MemoryPoint(String label, int pods, long daemonPssBytes, long helpersPssBytes, int helperCount) {
        long totalBytes() {
            return Math.max(daemonPssBytes, 0) + Math.max(helpersPssBytes, 0);
        }
    }
}
