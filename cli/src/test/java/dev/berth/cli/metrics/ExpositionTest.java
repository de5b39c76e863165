package dev.berth.cli.metrics;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Which format a scrape's Accept header gets. */
class ExpositionTest {
    @Test
    void prometheusScrapersGetOpenMetrics() {
        assertTrue(Exposition.prefersOpenMetrics("application/openmetrics-text;version=1.0.0,"
                + "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
        assertTrue(Exposition.prefersOpenMetrics("application/openmetrics-text; version=1.0.0; charset=utf-8"));
        assertSame(Exposition.OPENMETRICS, Exposition.writerFor("Application/OpenMetrics-Text"));
    }

    @Test
    void everyoneElseGetsTheTextFormat() {
        assertFalse(Exposition.prefersOpenMetrics(null));
        assertFalse(Exposition.prefersOpenMetrics(""));
        assertFalse(Exposition.prefersOpenMetrics("*/*"));
        assertFalse(Exposition.prefersOpenMetrics("text/plain;version=0.0.4"));
        assertFalse(Exposition.prefersOpenMetrics("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"));
        assertFalse(Exposition.prefersOpenMetrics("application/openmetrics-text;q=0,text/plain"));
        assertFalse(Exposition.prefersOpenMetrics("application/openmetrics-text;q=0.4,text/plain;q=0.9"));
        assertFalse(Exposition.prefersOpenMetrics("application/openmetrics-text;q=bogus"));
        assertSame(Exposition.TEXT, Exposition.writerFor("text/plain"));
    }
}
