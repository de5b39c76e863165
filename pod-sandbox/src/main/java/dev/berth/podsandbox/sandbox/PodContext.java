package dev.berth.podsandbox.sandbox;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a container takes from its pod: the pod's state, its pinned namespaces and infra
 * process (which containers join), its cgroup (under which theirs is made), its runtime
 * handler, its hostname and the /dev/shm and /etc files it shares, and the pod's config (log
 * directory, namespace modes). The same facts, in {@link #verboseInfo()}, are what a verbose
 * PodSandboxStatus reports.
 *
 * @param infraPid  pid of the infra process holding the pod's PID namespace, 0 when none
 * @param netnsPath the pinned network namespace, "" when the pod uses the host's; likewise
 *                  {@code ipcnsPath} and {@code utsnsPath}
 * @param cgroupPath the pod cgroup, "" when the pod has none
 * @param runtimeHandler the runtime handler berth resolved for the pod, {@code runtimeBinary} its OCI runtime
 * @param shmPath   the pod's /dev/shm, "" when the pod uses the host's IPC namespace
 * @param usernsPath the pinned user namespace of the pod, "" when it uses the host's
 */
public record PodContext(
        String id,
        SandboxState state,
        long infraPid,
        String netnsPath,
        String ipcnsPath,
        String utsnsPath,
        String cgroupPath,
        String runtimeHandler,
        String runtimeBinary,
        String hostname,
        String shmPath,
        String hostnamePath,
        String hostsPath,
        String resolvConfPath,
        SandboxConfig config,
        String usernsPath) {

    public PodContext {
        usernsPath = usernsPath == null ? "" : usernsPath;
    }

    /** A pod in the host's user namespace. */
    public PodContext(String id, SandboxState state, long infraPid, String netnsPath, String ipcnsPath, String utsnsPath,
                      String cgroupPath, String runtimeHandler, String runtimeBinary, String hostname, String shmPath,
                      String hostnamePath, String hostsPath, String resolvConfPath, SandboxConfig config) {
        this(id, state, infraPid, netnsPath, ipcnsPath, utsnsPath, cgroupPath, runtimeHandler, runtimeBinary, hostname,
                shmPath, hostnamePath, hostsPath, resolvConfPath, config, "");
    }

    /** The verbose info of PodSandboxStatus, its keys in the order the JSON shows them. */
    public Map<String, Object> verboseInfo() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("pid", infraPid);
        m.put("netnsPath", netnsPath);
        m.put("ipcnsPath", ipcnsPath);
        m.put("utsnsPath", utsnsPath);
        if (!usernsPath.isEmpty()) {
            m.put("usernsPath", usernsPath);
        }
        m.put("cgroupPath", cgroupPath);
        m.put("runtimeHandler", runtimeHandler);
        m.put("runtimeBinary", runtimeBinary);
        m.put("hostname", hostname);
        m.put("shmPath", shmPath);
        m.put("hostnamePath", hostnamePath);
        m.put("hostsPath", hostsPath);
        m.put("resolvConfPath", resolvConfPath);
        m.put("config", config);
        return m;
    }
}
