package dev.berth.agent.eviction;

/** One signal as measured: what is available of its capacity (same units: bytes, inodes, process ids). */
public record Observation(long available, long capacity) {
}
