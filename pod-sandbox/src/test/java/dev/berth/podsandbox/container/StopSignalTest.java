package dev.berth.podsandbox.container;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The image's StopSignal in the form the OCI runtimes take. */
class StopSignalTest {
    @Test
    void imageStopSignalsBecomeSignalNamesAndDefaultToSigterm() {
        assertEquals("SIGTERM", ContainerManager.stopSignal(""));
        assertEquals("SIGTERM", ContainerManager.stopSignal(null));
        assertEquals("SIGQUIT", ContainerManager.stopSignal("SIGQUIT"));
        assertEquals("SIGQUIT", ContainerManager.stopSignal("quit"));
        assertEquals("3", ContainerManager.stopSignal("3"));
    }
}
