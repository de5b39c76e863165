package dev.berth.agent.eviction;

import dev.berth.agent.node.NodeStatusMaker;
import java.util.Map;

/**
 * The eviction signals and what each stands for, as the kubelet maps them: the node condition
 * a met threshold raises, and the resource evicting reclaims (its name in the eviction message).
 */
public final class Signals {
    public static final String MEMORY_AVAILABLE = "memory.available";
    public static final String NODEFS_AVAILABLE = "nodefs.available";
    public static final String NODEFS_INODES_FREE = "nodefs.inodesFree";
    public static final String IMAGEFS_AVAILABLE = "imagefs.available";
    public static final String IMAGEFS_INODES_FREE = "imagefs.inodesFree";
    public static final String PID_AVAILABLE = "pid.available";

    /** The condition each signal raises when one of its thresholds is met. */
    public static final Map<String, String> CONDITION = Map.of(
            MEMORY_AVAILABLE, NodeStatusMaker.MEMORY_PRESSURE,
            NODEFS_AVAILABLE, NodeStatusMaker.DISK_PRESSURE,
            NODEFS_INODES_FREE, NodeStatusMaker.DISK_PRESSURE,
            IMAGEFS_AVAILABLE, NodeStatusMaker.DISK_PRESSURE,
            IMAGEFS_INODES_FREE, NodeStatusMaker.DISK_PRESSURE,
            PID_AVAILABLE, NodeStatusMaker.PID_PRESSURE);

    /** The resource each signal measures, as eviction messages name it. */
    public static final Map<String, String> RESOURCE = Map.of(
            MEMORY_AVAILABLE, "memory",
            NODEFS_AVAILABLE, "ephemeral-storage",
            NODEFS_INODES_FREE, "inodes",
            IMAGEFS_AVAILABLE, "ephemeral-storage",
            IMAGEFS_INODES_FREE, "inodes",
            PID_AVAILABLE, "pids");

    private Signals() {
    }
}
