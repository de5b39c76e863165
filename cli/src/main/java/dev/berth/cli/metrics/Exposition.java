package dev.berth.cli.metrics;

import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.OpenMetricsTextFormatWriter;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.util.Locale;

/**
 * Chooses the exposition format of a scrape from its Accept header: OpenMetrics 1.0 text when
 * the client prefers {@code application/openmetrics-text} (as Prometheus does), the Prometheus
 * text format 0.0.4 otherwise.
 */
final class Exposition {
    static final ExpositionFormatWriter TEXT = PrometheusTextFormatWriter.create();
    static final ExpositionFormatWriter OPENMETRICS = OpenMetricsTextFormatWriter.create();

    private Exposition() {
    }

    static ExpositionFormatWriter writerFor(String accept) {
        return prefersOpenMetrics(accept) ? OPENMETRICS : TEXT;
    }

    /** True when the header gives OpenMetrics a positive quality no lower than plain text's. */
    static boolean prefersOpenMetrics(String accept) {
        if (accept == null || accept.isBlank()) {
            return false;
        }
        double openMetrics = -1;
        double text = -1;
        for (String range : accept.split(",")) {
            String[] parts = range.split(";");
            String type = parts[0].trim().toLowerCase(Locale.ROOT);
            double q = 1;
            for (int i = 1; i < parts.length; i++) {
                String p = parts[i].trim();
                if (p.startsWith("q=") || p.startsWith("Q=")) {
                    try {
                        q = Double.parseDouble(p.substring(2).trim());
                    } catch (NumberFormatException e) {
                        q = 0;
                    }
                }
            }
            if (type.equals("application/openmetrics-text")) {
                openMetrics = Math.max(openMetrics, q);
            } else if (type.equals("text/plain") || type.equals("text/*") || type.equals("*/*")) {
                text = Math.max(text, q);
            }
        }
        return openMetrics > 0 && openMetrics >= text;
    }
}
