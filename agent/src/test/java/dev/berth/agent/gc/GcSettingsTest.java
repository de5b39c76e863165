package dev.berth.agent.gc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class GcSettingsTest {
    private static GcSettings with(int high, int low, Duration min, Duration max) {
        return new GcSettings(high, low, min, max, 1, -1, Duration.ZERO, Duration.ofMinutes(1), Duration.ofMinutes(5));
    }

    @Test
    void theDefaultsAreTheKubelets() {
        GcSettings d = GcSettings.defaults();
        assertEquals(85, d.imageGcHighThresholdPercent());
        assertEquals(80, d.imageGcLowThresholdPercent());
        assertEquals(Duration.ofMinutes(2), d.imageMinimumGcAge());
        assertEquals(Duration.ZERO, d.imageMaximumGcAge());
        assertEquals(1, d.maxPerPodContainer());
        assertEquals(-1, d.maxContainers());
        assertEquals(Duration.ZERO, d.minimumContainerTtl());
        assertEquals(Duration.ofMinutes(1), d.containerGcPeriod());
        assertEquals(Duration.ofMinutes(5), d.imageGcPeriod());
        assertTrue(d.imageGcEnabled());
    }

    @Test
    void invalidCombinationsAreRefusedAsTheKubeletRefusesThem() {
        assertThrows(IllegalArgumentException.class, () -> with(101, 80, Duration.ZERO, Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> with(85, -1, Duration.ZERO, Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> with(80, 80, Duration.ZERO, Duration.ZERO), "low must be below high");
        assertThrows(IllegalArgumentException.class, () -> with(85, 80, Duration.ofMinutes(2), Duration.ofMinutes(2)),
                "a maximum age must exceed the minimum");
        assertThrows(IllegalArgumentException.class, () -> with(85, 80, Duration.ofMinutes(-1), Duration.ZERO));
    }

    @Test
    void aHighThresholdOf100WithoutMaximumAgeSwitchesImageGcOff() {
        assertFalse(with(100, 80, Duration.ZERO, Duration.ZERO).imageGcEnabled());
        assertTrue(with(100, 80, Duration.ZERO, Duration.ofHours(1)).imageGcEnabled());
    }
}
