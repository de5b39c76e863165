package dev.berth.podsandbox.container;

import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.ImageConfig;
import java.util.Map;

/**
 * Everything berth knows about one container, persisted (crash-safe) on every change.
 * Timestamps are nanoseconds since the epoch, 0 when not reached. {@code creating} marks a
 * record written before the side effects of CreateContainer finished: such a record found at
 * start-up is rolled back.
 */
public record ContainerRecord(
        String id,
        String name,
        int attempt,
        String sandboxId,
        String handler,
        String imageRef,
        ContainerConfig config,
        ImageConfig image,
        String rootfs,
        String bundle,
        String logPath,
        String cgroupsPath,
        ContainerState state,
        boolean creating,
        long createdAt,
        long startedAt,
        long finishedAt,
        int exitCode,
        String reason,
        String message,
        long pid,
        long conmonPid,
        long conmonStartTime,
        Map<String, String> labels,
        Map<String, String> annotations) {

    public static final String REASON_COMPLETED = "Completed";
    public static final String REASON_ERROR = "Error";
    public static final String REASON_OOM_KILLED = "OOMKilled";
    public static final String REASON_CANNOT_RUN = "ContainerCannotRun";

    public ContainerRecord {
        reason = reason == null ? "" : reason;
        message = message == null ? "" : message;
        labels = labels == null ? Map.of() : Map.copyOf(labels);
        annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
    }

    public ContainerRecord created(long pid, long conmonPid, long conmonStartTime) {
        return new ContainerRecord(id, name, attempt, sandboxId, handler, imageRef, config, image, rootfs, bundle,
                logPath, cgroupsPath, ContainerState.CREATED, false, createdAt, 0, 0, 0, "", "", pid, conmonPid,
                conmonStartTime, labels, annotations);
    }

    public ContainerRecord running(long at) {
        return new ContainerRecord(id, name, attempt, sandboxId, handler, imageRef, config, image, rootfs, bundle,
                logPath, cgroupsPath, ContainerState.RUNNING, false, createdAt, at, 0, 0, "", "", pid, conmonPid,
                conmonStartTime, labels, annotations);
    }

    public ContainerRecord exited(long at, int code, String why, String msg) {
        return new ContainerRecord(id, name, attempt, sandboxId, handler, imageRef, config, image, rootfs, bundle,
                logPath, cgroupsPath, ContainerState.EXITED, false, createdAt, startedAt, at, code, why, msg, pid,
                conmonPid, conmonStartTime, labels, annotations);
    }

    /** The start time of a container found exited right after its start. */
    public ContainerRecord withStart(long at) {
        return new ContainerRecord(id, name, attempt, sandboxId, handler, imageRef, config, image, rootfs, bundle,
                logPath, cgroupsPath, state, creating, createdAt, at, Math.max(finishedAt, at), exitCode, reason,
                message, pid, conmonPid, conmonStartTime, labels, annotations);
    }

    public ContainerRecord withConfig(ContainerConfig c) {
        return new ContainerRecord(id, name, attempt, sandboxId, handler, imageRef, c, image, rootfs, bundle,
                logPath, cgroupsPath, state, creating, createdAt, startedAt, finishedAt, exitCode, reason, message,
                pid, conmonPid, conmonStartTime, labels, annotations);
    }
}
