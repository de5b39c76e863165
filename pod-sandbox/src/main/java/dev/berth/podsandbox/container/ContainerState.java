package dev.berth.podsandbox.container;

/** CRI container states: CREATED → RUNNING → EXITED (UNKNOWN when berth cannot tell). */
public enum ContainerState {
    CREATED,
    RUNNING,
    EXITED,
    UNKNOWN
}
