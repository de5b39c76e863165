package dev.berth.podsandbox.container.spec;

import java.util.Map;

/**
 * What the pod sandbox gives each of its containers: the namespaces to join (the pod's user
 * namespace among them, null when the pod has none), the pod's /dev/shm and /etc files, the
 * hostname and the container's cgroup path. Paths may be null
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
        Map<String, String> sysctls,
        User user) {

    /** In the host's user namespace. */
    public SandboxContext(String sandboxId, Namespace net, Namespace ipc, Namespace uts, Namespace pid, String shmPath,
                          String hostsPath, String resolvConfPath, String hostnamePath, String hostname, String cgroupsPath,
                          Map<String, String> sysctls) {
        this(sandboxId, net, ipc, uts, pid, shmPath, hostsPath, resolvConfPath, hostnamePath, hostname, cgroupsPath,
                sysctls, null);
    }

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
                hostname, cgroupsPath, sysctls, user);
    }

    public SandboxContext withPodFiles(String shm, String hosts, String resolvConf, String hostnameFile, String name) {
        return new SandboxContext(sandboxId, net, ipc, uts, pid, shm, hosts, resolvConf, hostnameFile, name,
                cgroupsPath, sysctls, user);
    }

    /** This context in the pod's user namespace {@code u} (null: the host's). */
    public SandboxContext withUser(User u) {
        return new SandboxContext(sandboxId, net, ipc, uts, pid, shmPath, hostsPath, resolvConfPath, hostnamePath,
                hostname, cgroupsPath, sysctls, u);
    }

    /**
     * The pod's user namespace, pinned at {@code path}, with its maps: the OCI runtime joins it by
     * path and needs the maps too (runc refuses a user namespace without them).
     */
    public record User(String path, java.util.List<ContainerConfig.IdMapping> uids, java.util.List<ContainerConfig.IdMapping> gids) {
        public User {
            uids = java.util.List.copyOf(uids);
            gids = java.util.List.copyOf(gids);
        }

        /** The host uid of the namespace's root. */
        public long rootUid() {
            return uids.get(0).hostId();
        }

        /** The host gid of the namespace's gid 0. */
        public long rootGid() {
            return gids.get(0).hostId();
        }
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
