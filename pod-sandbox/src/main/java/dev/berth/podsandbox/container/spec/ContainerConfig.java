package dev.berth.podsandbox.container.spec;

import dev.berth.cgroups.Resources;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the caller asks of a container, mirroring CRI {@code ContainerConfig} and its Linux
 * security context in berth's own terms; its resources are berth's one resource model
 * ({@link Resources}, owned by the cgroups module). Built with {@link #builder(String)}.
 */
public record ContainerConfig(
        String name,
        int attempt,
        List<String> command,
        List<String> args,
        Map<String, String> envs,
        String workingDir,
        List<Mount> mounts,
        List<Device> devices,
        Map<String, String> labels,
        Map<String, String> annotations,
        String logPath,
        boolean stdin,
        boolean stdinOnce,
        boolean tty,
        Resources resources,
        Security security) {

    public ContainerConfig {
        command = List.copyOf(command);
        args = List.copyOf(args);
        envs = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(envs));
        workingDir = workingDir == null ? "" : workingDir;
        mounts = List.copyOf(mounts);
        devices = List.copyOf(devices);
        labels = Map.copyOf(labels);
        annotations = Map.copyOf(annotations);
        logPath = logPath == null ? "" : logPath;
        resources = resources == null ? Resources.none() : resources;
        security = security == null ? Security.defaults() : security;
    }

    /** CRI {@code MountPropagation}. */
    public enum Propagation { PRIVATE, HOST_TO_CONTAINER, BIDIRECTIONAL }

    /**
     * A CRI mount: a host path bound into the container, or (with {@code image} set) an image
     * from the store mounted read-only ({@code imageSubPath} a directory inside it, "" for its
     * root). {@code recursiveReadOnly} makes every submount read-only too; uid and gid mappings
     * make it an idmapped mount.
     */
    public record Mount(String containerPath, String hostPath, boolean readonly, Propagation propagation,
                        boolean recursiveReadOnly, String image, String imageSubPath,
                        List<IdMapping> uidMappings, List<IdMapping> gidMappings) {
        public Mount {
            propagation = propagation == null ? Propagation.PRIVATE : propagation;
            image = image == null ? "" : image;
            imageSubPath = imageSubPath == null ? "" : imageSubPath;
            uidMappings = uidMappings == null ? List.of() : List.copyOf(uidMappings);
            gidMappings = gidMappings == null ? List.of() : List.copyOf(gidMappings);
        }

        /** A plain bind mount of a host path. */
        public Mount(String containerPath, String hostPath, boolean readonly, Propagation propagation) {
            this(containerPath, hostPath, readonly, propagation, false, "", "", List.of(), List.of());
        }

        /** Whether this mount is an image volume rather than a host path. */
        public boolean isImage() {
            return !image.isEmpty();
        }
    }

    /** One id mapping (a line of uid_map or gid_map): {@code length} ids from {@code containerId} on are {@code hostId} on. */
    public record IdMapping(long containerId, long hostId, long length) {
    }

    /** A host device made available in the container; permissions like "rwm". */
    public record Device(String containerPath, String hostPath, String permissions) {
    }

    /** CRI seccomp {@code SecurityProfile}. */
    public record SeccompProfile(Type type, String localhostRef) {
        public enum Type { RUNTIME_DEFAULT, UNCONFINED, LOCALHOST }

        public static SeccompProfile runtimeDefault() {
            return new SeccompProfile(Type.RUNTIME_DEFAULT, "");
        }

        public static SeccompProfile unconfined() {
            return new SeccompProfile(Type.UNCONFINED, "");
        }

        public static SeccompProfile localhost(String path) {
            return new SeccompProfile(Type.LOCALHOST, path);
        }
    }

    /**
     * Which supplementary groups a container's process gets (CRI {@code SupplementalGroupsPolicy}):
     * {@code MERGE} adds the groups of the image's /etc/group that list the container's user to
     * the primary gid and the CRI supplemental groups; {@code STRICT} takes only the latter two,
     * so an image cannot give its user a group the pod did not ask for.
     */
    public enum SupplementalGroupsPolicy { MERGE, STRICT }

    /**
     * CRI {@code LinuxContainerSecurityContext}. {@code maskedPaths}/{@code readonlyPaths} null
     * means "the defaults". {@code seccomp} null means "not set": then the older
     * {@code seccompProfilePath} string is used. {@code supplementalGroupsPolicy} null (a
     * record written before berth knew it) means MERGE, what berth always did.
     */
    public record Security(
            List<String> addCapabilities,
            List<String> dropCapabilities,
            boolean privileged,
            Long runAsUser,
            String runAsUsername,
            Long runAsGroup,
            List<Long> supplementalGroups,
            boolean readonlyRootfs,
            boolean noNewPrivs,
            List<String> maskedPaths,
            List<String> readonlyPaths,
            SeccompProfile seccomp,
            String seccompProfilePath,
            SupplementalGroupsPolicy supplementalGroupsPolicy) {
        /** A security context with the default policy (MERGE). */
        public Security(List<String> addCapabilities, List<String> dropCapabilities, boolean privileged, Long runAsUser,
                String runAsUsername, Long runAsGroup, List<Long> supplementalGroups, boolean readonlyRootfs,
                boolean noNewPrivs, List<String> maskedPaths, List<String> readonlyPaths, SeccompProfile seccomp,
                String seccompProfilePath) {
            this(addCapabilities, dropCapabilities, privileged, runAsUser, runAsUsername, runAsGroup, supplementalGroups,
                    readonlyRootfs, noNewPrivs, maskedPaths, readonlyPaths, seccomp, seccompProfilePath,
                    SupplementalGroupsPolicy.MERGE);
        }

        public Security {
            addCapabilities = addCapabilities == null ? List.of() : List.copyOf(addCapabilities);
            dropCapabilities = dropCapabilities == null ? List.of() : List.copyOf(dropCapabilities);
            runAsUsername = runAsUsername == null ? "" : runAsUsername;
            supplementalGroups = supplementalGroups == null ? List.of() : List.copyOf(supplementalGroups);
            maskedPaths = maskedPaths == null ? null : List.copyOf(maskedPaths);
            readonlyPaths = readonlyPaths == null ? null : List.copyOf(readonlyPaths);
            seccompProfilePath = seccompProfilePath == null ? "" : seccompProfilePath;
            supplementalGroupsPolicy = supplementalGroupsPolicy == null ? SupplementalGroupsPolicy.MERGE
                    : supplementalGroupsPolicy;
        }

        /** This security context with another supplemental groups policy. */
        public Security withSupplementalGroupsPolicy(SupplementalGroupsPolicy policy) {
            return new Security(addCapabilities, dropCapabilities, privileged, runAsUser, runAsUsername, runAsGroup,
                    supplementalGroups, readonlyRootfs, noNewPrivs, maskedPaths, readonlyPaths, seccomp,
                    seccompProfilePath, policy);
        }

        public static Security defaults() {
            return new Security(List.of(), List.of(), false, null, "", null, List.of(), false, false,
                    null, null, null, "");
        }
    }

    public static Builder builder(String name) {
        return new Builder(name);
    }

    /** Copy of this config with other resources (UpdateContainerResources). */
    public ContainerConfig withResources(Resources r) {
        return new ContainerConfig(name, attempt, command, args, envs, workingDir, mounts, devices, labels,
                annotations, logPath, stdin, stdinOnce, tty, r, security);
    }

    /** Copy of this config with other mounts (image volumes given the host path they were staged at). */
    public ContainerConfig withMounts(List<Mount> m) {
        return new ContainerConfig(name, attempt, command, args, envs, workingDir, m, devices, labels,
                annotations, logPath, stdin, stdinOnce, tty, resources, security);
    }

    /** Mutable builder; every field optional except the name. */
    public static final class Builder {
        private final String name;
        private int attempt;
        private List<String> command = List.of();
        private List<String> args = List.of();
        private final Map<String, String> envs = new LinkedHashMap<>();
        private String workingDir = "";
        private final List<Mount> mounts = new ArrayList<>();
        private final List<Device> devices = new ArrayList<>();
        private Map<String, String> labels = Map.of();
        private Map<String, String> annotations = Map.of();
        private String logPath = "";
        private boolean stdin;
        private boolean stdinOnce;
        private boolean tty;
        private Resources resources = Resources.none();
        private Security security = Security.defaults();

        private Builder(String name) {
            this.name = name;
        }

        public Builder attempt(int v) { attempt = v; return this; }
        public Builder command(String... v) { command = List.of(v); return this; }
        public Builder command(List<String> v) { command = List.copyOf(v); return this; }
        public Builder args(String... v) { args = List.of(v); return this; }
        public Builder args(List<String> v) { args = List.copyOf(v); return this; }
        public Builder env(String key, String value) { envs.put(key, value); return this; }
        public Builder workingDir(String v) { workingDir = v; return this; }
        public Builder mount(Mount m) { mounts.add(m); return this; }
        public Builder device(Device d) { devices.add(d); return this; }
        public Builder labels(Map<String, String> v) { labels = v; return this; }
        public Builder annotations(Map<String, String> v) { annotations = v; return this; }
        public Builder logPath(String v) { logPath = v; return this; }
        public Builder stdin(boolean v) { stdin = v; return this; }
        public Builder stdinOnce(boolean v) { stdinOnce = v; return this; }
        public Builder tty(boolean v) { tty = v; return this; }
        public Builder resources(Resources v) { resources = v; return this; }
        public Builder security(Security v) { security = v; return this; }

        public ContainerConfig build() {
            return new ContainerConfig(name, attempt, command, args, envs, workingDir, mounts, devices, labels,
                    annotations, logPath, stdin, stdinOnce, tty, resources, security);
        }
    }
}
