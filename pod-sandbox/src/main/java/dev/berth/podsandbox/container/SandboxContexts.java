package dev.berth.podsandbox.container;

import dev.berth.cgroups.Cgroups;
import dev.berth.common.BerthException;
import dev.berth.podsandbox.container.spec.SandboxContext;
import dev.berth.podsandbox.sandbox.PodContext;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import dev.berth.podsandbox.sandbox.SandboxConfig.NamespaceMode;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Function;

/** How a container of a pod gets its namespaces, pod files and cgroup from the pod's context. */
final class SandboxContexts {
    private SandboxContexts() {
    }

    /**
     * The pod's namespaces (network, IPC and UTS by their pinned paths; the PID namespace as
     * {@code pidMode} asks, the pod's when null), its /dev/shm and /etc files, and the cgroup
     * under the pod's cgroup (or {@code /berth-<id>} for a pod without one) for a given
     * container id.
     *
     * @param containers the containers by id, for a {@code TARGET} PID namespace
     * @throws BerthException NOT_FOUND when the target of a {@code TARGET} PID namespace does not exist,
     *         INVALID_ARGUMENT when it belongs to another sandbox, FAILED_PRECONDITION when it is not running
     */
    static Function<String, SandboxContext> resolve(PodContext pod, NamespaceMode pidMode, String pidTarget,
                                                    Function<String, ContainerRecord> containers, Cgroups cgroups) {
        SandboxConfig.NamespaceOptions nso = pod.config().namespaces();
        SandboxContext.Namespace net = pinned(pod.netnsPath(), nso.hostNetwork());
        SandboxContext.Namespace ipc = pinned(pod.ipcnsPath(), nso.hostIpc());
        SandboxContext.Namespace uts = pinned(pod.utsnsPath(), nso.hostNetwork());
        NamespaceMode mode = pidMode != null ? pidMode : switch (nso.pid()) {
            case POD -> NamespaceMode.POD;
            case NODE -> NamespaceMode.NODE;
            default -> NamespaceMode.CONTAINER;
        };
        SandboxContext.Namespace pid = switch (mode) {
            case POD -> pod.infraPid() > 0 ? SandboxContext.Namespace.join("/proc/" + pod.infraPid() + "/ns/pid")
                    : SandboxContext.Namespace.ownNew();
            case NODE -> SandboxContext.Namespace.host();
            case TARGET -> {
                ContainerRecord t = containers.apply(pidTarget);
                // another pod's processes are not this pod's to see (or to signal, or to ptrace)
                if (!t.sandboxId().equals(pod.id())) {
                    throw BerthException.invalidArgument("target container %s of the pid namespace is not in pod sandbox %s",
                            pidTarget, pod.id());
                }
                if (t.state() != ContainerState.RUNNING || t.pid() <= 0) {
                    throw BerthException.failedPrecondition("target container %s of the pid namespace is not running", pidTarget);
                }
                yield SandboxContext.Namespace.join("/proc/" + t.pid() + "/ns/pid");
            }
            default -> SandboxContext.Namespace.ownNew();
        };
        String shm = blankToNull(pod.shmPath());
        String hosts = blankToNull(pod.hostsPath());
        String resolv = blankToNull(pod.resolvConfPath());
        String hostnameFile = blankToNull(pod.hostnamePath());
        String hostname = pod.hostname() == null ? "" : pod.hostname();
        String podCgroup = pod.cgroupPath();
        String sandboxId = pod.id();
        SandboxContext.User user = pod.usernsPath().isEmpty() ? null
                : new SandboxContext.User(pod.usernsPath(), nso.user().uids(), nso.user().gids());
        return id -> new SandboxContext(sandboxId, net, ipc, uts, pid, shm, hosts, resolv, hostnameFile, hostname,
                podCgroup.isEmpty() ? "/berth-" + id : cgroups.containerPath(podCgroup, id), Map.of(), user);
    }

    /** The pod's namespace by its pinned path; without one, the host's when the pod uses it, else a new one. */
    private static SandboxContext.Namespace pinned(String path, boolean host) {
        return !path.isEmpty() ? SandboxContext.Namespace.join(Path.of(path).toString())
                : host ? SandboxContext.Namespace.host() : SandboxContext.Namespace.ownNew();
    }

    private static String blankToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }
}
