package dev.berth.podsandbox.container.spec;

import java.util.Map;

/**
 * What the pod sandbox gives each of its containers: the namespaces to join, the pod's
 * /dev/shm and /etc files, the hostname and the container's cgroup path. Paths may be null
 * where the sandbox has none (then the container gets its own namespace, or its own /dev/shm,
 * or the file is not mounted).
 */
public record SandboxContext(
        String sandboxId,
        Namespace net,
        Namespace ipc,
        Namespace uts,
        Namespace pid,
        String shmPath,
        String hostsPath,
        String resolvConfPath,
        String hostnamePath,
        String hostname,
        String cgroupsPath,
        Map<String, String> sysctls) {

    public SandboxContext {
        net = net == null ? Namespace.ownNew() : net;
        ipc = ipc == null ? Namespace.ownNew() : ipc;
        uts = uts == null ? Namespace.ownNew() : uts;
        pid = pid == null ? Namespace.ownNew() : pid;
        hostname = hostname == null ? "" : hostname;
        sysctls = sysctls == null ? Map.of() : Map.copyOf(sysctls);
    }

    /** A sandbox context with fresh namespaces for everything and no pod files. */
    public static SandboxContext standalone(String sandboxId, String cgroupsPath) {
        return new SandboxContext(sandboxId, null, null, null, null, null, null, null, null, "", cgroupsPath, Map.of());
    }

    public SandboxContext withNamespaces(Namespace net, Namespace ipc, Namespace uts, Namespace pid) {
        return new SandboxContext(sandboxId, net, ipc, uts, pid, shmPath, hostsPath, resolvConfPath, hostnamePath,
                hostname, cgroupsPath, sysctls);
    }

    public SandboxContext withPodFiles(String shm, String hosts, String resolvConf, String hostnameFile, String name) {
        return new SandboxContext(sandboxId, net, ipc, uts, pid, shm, hosts, resolvConf, hostnameFile, name,
                cgroupsPath, sysctls);
    }

    /** How the container gets one kind of namespace. */
    public record Namespace(Mode mode, String path) {
        public enum Mode {
            /** a namespace of the container's own */
            NEW,
            /** join the namespace pinned at {@code path} (the pod's) */
            PATH,
            /** stay in berth's (the host's) namespace */
            HOST
        }

        public static Namespace ownNew() {
            return new Namespace(Mode.NEW, null);
        }

        public static Namespace host() {
            return new Namespace(Mode.HOST, null);
        }

        public static Namespace join(String path) {
            return new Namespace(Mode.PATH, path);
        }
    }
}
