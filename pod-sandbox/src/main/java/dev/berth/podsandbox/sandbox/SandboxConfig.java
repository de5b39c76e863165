package dev.berth.podsandbox.sandbox;

import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import dev.berth.networking.PodNetwork;
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

    /** Which namespaces the pod shares with whom. */
    public record NamespaceOptions(NamespaceMode network, NamespaceMode pid, NamespaceMode ipc, String targetId) {
        public static final NamespaceOptions DEFAULT = new NamespaceOptions(NamespaceMode.POD, NamespaceMode.CONTAINER, NamespaceMode.POD, "");

        public NamespaceOptions {
            targetId = targetId == null ? "" : targetId;
        }

        public boolean hostNetwork() {
            return network == NamespaceMode.NODE;
        }

        public boolean hostIpc() {
            return ipc == NamespaceMode.NODE;
        }
    }
}
