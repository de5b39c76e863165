package dev.berth.cli.bench;

import java.util.Arrays;
import java.util.List;

/** Percentiles by the nearest-rank method: the p-th percentile of n sorted samples is the ceil(p/100 * n)-th; no interpolation, so every figure is a latency that was measured. */
final class Stats {
    private Stats() {
    }

    /** The {@code p}-th percentile (0 < p <= 100) of {@code samples}, or NaN when there are none. */
    static double percentile(List<Double> samples, double p) {
        if (samples.isEmpty()) {
            return Double.NaN;
        }
        if (!(p > 0 && p <= 100)) {
            throw new IllegalArgumentException("percentile " + p + " is not in (0, 100]");
        }
        double[] sorted = samples.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(sorted);
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(rank, 1) - 1];
    }

    static double mean(List<Double> samples) {
        return samples.isEmpty() ? Double.NaN : samples.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
    }
}
