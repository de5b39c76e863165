package dev.berth.podsandbox.store;

import dev.berth.podsandbox.sandbox.SandboxConfig;
import java.util.List;

/**
 * A sandbox as berth remembers it across restarts; immutable, replaced as a whole on every
 * change (written to disk first).
 *
 * @param phase CREATING until RunPodSandbox finished (a record left in this phase by a crash
 *        is reported NOTREADY and cleaned up by RemovePodSandbox), then READY, then NOTREADY
 * @param handler the runtime handler actually used, {@code runtimeBinary} its OCI runtime
 * @param netns pinned network namespace, null for a host-network pod; likewise ipc and uts
 * @param cgroupPath the pod cgroup, null when none was asked for
 * @param networkAttached true from just before the network attach until a detach succeeded
 * @param infraPid pid of the infra process (0 = none) and its start time
 * @param userns pinned user namespace, null for a pod in the host's
 */
public record SandboxRecord(
        String id,
        SandboxConfig config,
        long createdAtNanos,
        Phase phase,
        String hostname,
        String handler,
        String runtimeBinary,
        String netns,
        String ipcns,
        String utsns,
        String cgroupPath,
        boolean networkAttached,
        List<String> ips,
        long infraPid,
        long infraStartTime,
        String userns) {

    /** Where a sandbox is in its life. */
    public enum Phase { CREATING, READY, NOTREADY }

    public SandboxRecord {
        ips = ips == null ? List.of() : List.copyOf(ips);
    }

    public static SandboxRecord creating(String id, SandboxConfig config, long createdAtNanos, String hostname,
            String handler, String runtimeBinary) {
        return new SandboxRecord(id, config, createdAtNanos, Phase.CREATING, hostname, handler, runtimeBinary,
                null, null, null, null, false, List.of(), 0, 0, null);
    }

    public SandboxRecord withPhase(Phase p) {
        return new SandboxRecord(id, config, createdAtNanos, p, hostname, handler, runtimeBinary, netns, ipcns, utsns,
                cgroupPath, networkAttached, ips, infraPid, infraStartTime, userns);
    }

    public SandboxRecord withNamespaces(String net, String ipc, String uts) {
        return new SandboxRecord(id, config, createdAtNanos, phase, hostname, handler, runtimeBinary, net, ipc, uts,
                cgroupPath, networkAttached, ips, infraPid, infraStartTime, userns);
    }

    public SandboxRecord withUserns(String user) {
        return new SandboxRecord(id, config, createdAtNanos, phase, hostname, handler, runtimeBinary, netns, ipcns, utsns,
                cgroupPath, networkAttached, ips, infraPid, infraStartTime, user);
    }

    public SandboxRecord withCgroup(String path) {
        return new SandboxRecord(id, config, createdAtNanos, phase, hostname, handler, runtimeBinary, netns, ipcns, utsns,
                path, networkAttached, ips, infraPid, infraStartTime, userns);
    }

    public SandboxRecord withNetwork(boolean attached, List<String> addresses) {
        return new SandboxRecord(id, config, createdAtNanos, phase, hostname, handler, runtimeBinary, netns, ipcns, utsns,
                cgroupPath, attached, addresses, infraPid, infraStartTime, userns);
    }

    public SandboxRecord withConfig(SandboxConfig c) {
        return new SandboxRecord(id, c, createdAtNanos, phase, hostname, handler, runtimeBinary, netns, ipcns, utsns,
                cgroupPath, networkAttached, ips, infraPid, infraStartTime, userns);
    }

    public SandboxRecord withInfra(long pid, long startTime) {
        return new SandboxRecord(id, config, createdAtNanos, phase, hostname, handler, runtimeBinary, netns, ipcns, utsns,
                cgroupPath, networkAttached, ips, pid, startTime, userns);
    }
}
