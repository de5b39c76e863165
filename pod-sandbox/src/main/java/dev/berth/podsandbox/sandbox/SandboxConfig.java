package dev.berth.podsandbox.sandbox;

import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import dev.berth.networking.PodNetwork;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What a pod asks of its sandbox, in berth's own terms (the agent translates the CRI
 * PodSandboxConfig into this). Collections are never null.
 *
 * @param shmSizeBytes size of the pod's /dev/shm tmpfs (ignored for host-IPC pods)
 * @param runtimeHandler the CRI runtime handler as asked ("" = the default)
 */
public record SandboxConfig(
        Metadata metadata,
        String hostname,
        String logDirectory,
        Dns dns,
        List<PodNetwork.PortMapping> portMappings,
        Map<String, String> labels,
        Map<String, String> annotations,
        String cgroupParent,
        Map<String, String> sysctls,
        NamespaceOptions namespaces,
        Resources resources,
        Resources overhead,
        long shmSizeBytes,
        String runtimeHandler) {

    public static final long DEFAULT_SHM_SIZE = 64L * 1024 * 1024;

    public SandboxConfig {
        hostname = hostname == null ? "" : hostname;
        logDirectory = logDirectory == null ? "" : logDirectory;
        dns = dns == null ? Dns.NONE : dns;
        portMappings = portMappings == null ? List.of() : List.copyOf(portMappings);
        labels = labels == null ? Map.of() : Map.copyOf(labels);
        annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
        cgroupParent = cgroupParent == null ? "" : cgroupParent;
        sysctls = sysctls == null ? Map.of() : Map.copyOf(sysctls);
        namespaces = namespaces == null ? NamespaceOptions.DEFAULT : namespaces;
        runtimeHandler = runtimeHandler == null ? "" : runtimeHandler;
    }

    /**
     * Checks a log directory: empty, or an absolute path without {@code .} or {@code ..}
     * components (the containers' log files are created below it, as root).
     *
     * @throws BerthException INVALID_ARGUMENT otherwise
     */
    public static void checkLogDirectory(String logDirectory) {
        if (logDirectory.isEmpty()) {
            return;
        }
        Path dir;
        try {
            dir = Path.of(logDirectory);
        } catch (InvalidPathException e) {
            throw BerthException.invalidArgument("log directory %s is not a valid path", logDirectory.replace("\0", "\\0"));
        }
        boolean clean = dir.isAbsolute();
        for (Path name : dir) {
            clean &= !name.toString().equals(".") && !name.toString().equals("..");
        }
        if (!clean) {
            throw BerthException.invalidArgument("log directory %s is not an absolute path without . or ..", logDirectory);
        }
    }

    /** This config with new pod-level resources and overhead (UpdatePodSandboxResources). */
    public SandboxConfig withResources(Resources newResources, Resources newOverhead) {
        return new SandboxConfig(metadata, hostname, logDirectory, dns, portMappings, labels, annotations, cgroupParent,
                sysctls, namespaces, newResources, newOverhead, shmSizeBytes, runtimeHandler);
    }

    /** Identity of the pod: the kubelet's (name, namespace, uid, attempt). */
    public record Metadata(String name, String uid, String namespace, int attempt) {
        /** Unique among live sandboxes. */
        public String key() {
            return name + "_" + namespace + "_" + uid + "_" + attempt;
        }
    }

    /** DNS of the pod; all empty means "use the host's resolv.conf". */
    public record Dns(List<String> servers, List<String> searches, List<String> options) {
        public static final Dns NONE = new Dns(List.of(), List.of(), List.of());

        public Dns {
            servers = servers == null ? List.of() : List.copyOf(servers);
            searches = searches == null ? List.of() : List.copyOf(searches);
            options = options == null ? List.of() : List.copyOf(options);
        }

        public boolean isEmpty() {
            return servers.isEmpty() && searches.isEmpty() && options.isEmpty();
        }
    }

    /** The CRI NamespaceMode values. */
    public enum NamespaceMode { POD, CONTAINER, NODE, TARGET }

    /**
     * Which namespaces the pod shares with whom; {@code user} is the pod's user namespace
     * ({@link UserNamespace#NODE}, the host's, unless the pod asked for one of its own).
     */
    public record NamespaceOptions(NamespaceMode network, NamespaceMode pid, NamespaceMode ipc, String targetId,
                                   UserNamespace user) {
        public static final NamespaceOptions DEFAULT = new NamespaceOptions(NamespaceMode.POD, NamespaceMode.CONTAINER, NamespaceMode.POD, "");

        public NamespaceOptions {
            targetId = targetId == null ? "" : targetId;
            // records written before user namespaces have none
            user = user == null ? UserNamespace.NODE : user;
        }

        /** Without a user namespace of the pod's own. */
        public NamespaceOptions(NamespaceMode network, NamespaceMode pid, NamespaceMode ipc, String targetId) {
            this(network, pid, ipc, targetId, UserNamespace.NODE);
        }

        public boolean hostNetwork() {
            return network == NamespaceMode.NODE;
        }

        public boolean hostIpc() {
            return ipc == NamespaceMode.NODE;
        }

        /** Whether the pod has a user namespace of its own. */
        public boolean ownUser() {
            return user.mode() == NamespaceMode.POD;
        }
    }

    /**
     * The pod's user namespace: mode {@code NODE} (the host's; no mappings) or {@code POD} (one
     * made for the pod, its uid and gid maps one line each, container id 0 mapped to a host id
     * other than 0; checked by the CRI layer, which alone sees what the caller sent).
     */
    public record UserNamespace(NamespaceMode mode, List<ContainerConfig.IdMapping> uids, List<ContainerConfig.IdMapping> gids) {
        public static final UserNamespace NODE = new UserNamespace(NamespaceMode.NODE, List.of(), List.of());

        public UserNamespace {
            mode = mode == null ? NamespaceMode.NODE : mode;
            uids = uids == null ? List.of() : List.copyOf(uids);
            gids = gids == null ? List.of() : List.copyOf(gids);
        }

        /** The host uid that is root (uid 0) in the namespace; 0 for the host's. */
        public long rootUid() {
            return uids.isEmpty() ? 0 : uids.get(0).hostId();
        }

        /** The host gid that is gid 0 in the namespace; 0 for the host's. */
        public long rootGid() {
            return gids.isEmpty() ? 0 : gids.get(0).hostId();
        }

        /** The host uid of container uid {@code uid}, or -1 when the map does not cover it. */
        public long hostUid(long uid) {
            return shift(uids, uid);
        }

        /** The host gid of container gid {@code gid}, or -1 when the map does not cover it. */
        public long hostGid(long gid) {
            return shift(gids, gid);
        }

        private static long shift(List<ContainerConfig.IdMapping> map, long id) {
            if (map.isEmpty()) {
                return id;
            }
            for (ContainerConfig.IdMapping m : map) {
                if (id >= m.containerId() && id - m.containerId() < m.length()) {
                    return m.hostId() + (id - m.containerId());
                }
            }
            return -1;
        }
    }
}
