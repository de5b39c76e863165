package dev.berth.images.archfixture;

import dev.berth.podsandbox.container.ContainerState;

/** A deliberate violation for the rules' own test: a lower module using the domain above it. */
public final class ImagesReachingUp {
    private ImagesReachingUp() {
    }

    public static String state() {
        return ContainerState.RUNNING.name();
    }
}
