package dev.berth.agent.volume;

import dev.berth.agent.pod.Expansion;
import dev.berth.agent.pod.PodDirs;
import dev.berth.common.AtomicFiles;
import dev.berth.common.PrivateFiles;
import dev.berth.common.Trees;
import dev.berth.cri.v1.Mount;
import dev.berth.cri.v1.MountPropagation;
import dev.berth.host.HostMounts;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.DownwardAPIVolumeFile;
import io.fabric8.kubernetes.api.model.KeyToPath;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.ServiceAccountTokenProjection;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeProjection;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The volumes of the agent's pods, each in its host directory
 * {@code <state>/pods/<uid>/volumes/<plugin>/<name>} as the kubelet lays them out, and the
 * mounts each container gets. {@link #setUp} runs before a pod's sandbox: emptyDirs (on disk,
 * or a tmpfs for {@code medium: Memory}), hostPath type checks, and the files of configMap,
 * secret, downwardAPI and projected volumes (secret and projected ones on a tmpfs, never on
 * disk), written by {@link AtomicWriter}. {@link #refresh} rewrites the files whose source
 * changed, and renews service account tokens at 80% of their lifetime. {@link #containerMounts}
 * gives a container its volume mounts (subPaths checked against escapes), its
 * termination-message file and the pod's /etc/hosts. {@link #tearDown} unmounts and removes
 * what a pod had, once its sandbox is gone.
 */
public final class PodVolumes {
    private static final Logger LOG = LoggerFactory.getLogger(PodVolumes.class);
    static final String EMPTY_DIR = "kubernetes.io~empty-dir";
    static final String CONFIG_MAP = "kubernetes.io~configmap";
    static final String SECRET = "kubernetes.io~secret";
    static final String DOWNWARD_API = "kubernetes.io~downward-api";
    static final String PROJECTED = "kubernetes.io~projected";
    /** How often {@link #refresh} should run: a changed configMap reaches the containers within a minute. */
    public static final Duration REFRESH_INTERVAL = Duration.ofSeconds(30);
    static final int DEFAULT_MODE = 0644;
    static final long DEFAULT_TOKEN_SECONDS = 3600;
    static final long MIN_TOKEN_SECONDS = 600;
    static final String DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log";
    private static final Set<PosixFilePermission> POD_DIR = PosixFilePermissions.fromString("rwxr-x---");
    private static final Set<PosixFilePermission> EMPTY_DIR_MODE = PosixFilePermissions.fromString("rwxrwxrwx");
    private static final Set<PosixFilePermission> WRITABLE_BY_ALL = PosixFilePermissions.fromString("rw-rw-rw-");

    private final PodDirs dirs;
    private final ObjectSource objects;
    private final HostMounts mounts;
    private final NodeAllocatable node;
    private final String clusterDomain;
    private final Path nodeHosts;
    private final Clock clock;
    private final Map<String, PodState> pods = new ConcurrentHashMap<>();

    /**
     * @param clusterDomain the cluster's DNS domain for pods' FQDNs in /etc/hosts (empty: none)
     * @param nodeHosts the node's hosts file, the base of a host-network pod's
     */
    public PodVolumes(PodDirs dirs, ObjectSource objects, HostMounts mounts, NodeAllocatable node, String clusterDomain, Path nodeHosts,
            Clock clock) {
        this.dirs = dirs;
        this.objects = objects;
        this.mounts = mounts;
        this.node = node;
        this.clusterDomain = clusterDomain == null ? "" : clusterDomain;
        this.nodeHosts = nodeHosts;
        this.clock = clock;
    }

    /** What the agent knows of one pod's volumes: the pod as last given, the volumes made, the tokens had. */
    private static final class PodState {
        Pod pod;
        final Set<String> ready = new HashSet<>();
        final Map<String, Token> tokens = new HashMap<>();
    }

    /** A token and when it was had: renewed past 80% of its lifetime, or after a day. */
    private record Token(String token, Instant issued, Instant expiration) {
        boolean due(Instant now) {
            Duration life = Duration.between(issued, expiration);
            return now.isAfter(issued.plus(life.multipliedBy(8).dividedBy(10))) || now.isAfter(issued.plus(Duration.ofDays(1)));
        }
    }

    /**
     * Makes every volume of {@code pod} that is not made yet; idempotent (a made volume is left
     * as it is, so an adopted pod keeps its emptyDirs). The pod given is the one later
     * refreshes read from.
     * @throws VolumeException naming the volume that cannot be made
     */
    public void setUp(Pod pod) {
        String uid = pod.getMetadata().getUid();
        PodState st = pods.computeIfAbsent(uid, k -> new PodState());
        synchronized (st) {
            st.pod = pod;
            try {
                PrivateFiles.directory(dirs.podsDir());
                PrivateFiles.directory(dirs.pod(uid), POD_DIR);
            } catch (IOException e) {
                throw new VolumeException("cannot make the directory of pod " + uid + ": " + e, e);
            }
            for (Volume v : pod.getSpec().getVolumes()) {
                if (!st.ready.contains(v.getName())) {
                    try {
                        setUpVolume(st, pod, v);
                    } catch (VolumeException e) {
                        throw new VolumeException("volume \"" + v.getName() + "\": " + e.getMessage(), e);
                    } catch (IOException e) {
                        throw new VolumeException("volume \"" + v.getName() + "\": " + e, e);
                    }
                    st.ready.add(v.getName());
                }
            }
        }
    }

    private void setUpVolume(PodState st, Pod pod, Volume v) throws IOException {
        String uid = pod.getMetadata().getUid();
        if (v.getHostPath() != null) {
            HostPaths.check(v.getHostPath().getPath(), v.getHostPath().getType());
            return;
        }
        if (v.getImage() != null) {
            return; // the runtime mounts it from its image store; the pod's worker pulls it before each container that mounts it
        }
        if (v.getEmptyDir() != null) {
            Path dir = dirs.volume(uid, EMPTY_DIR, v.getName());
            boolean fresh = !Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS);
            PrivateFiles.createDirectories(dir.getParent());
            if (fresh) {
                PrivateFiles.directory(dir, EMPTY_DIR_MODE);
            }
            if ("Memory".equals(v.getEmptyDir().getMedium()) && !mounts.isMountPoint(dir)) {
                long size = v.getEmptyDir().getSizeLimit() == null ? node.memoryBytes()
                        : v.getEmptyDir().getSizeLimit().getNumericalAmount().longValue();
                mounts.tmpfs("tmpfs", dir, "size=" + size + ",mode=0777");
            }
            return;
        }
        String plugin = plugin(v);
        if (plugin == null) {
            throw new VolumeException("this kind of volume is not supported (emptyDir, hostPath, configMap, secret, downwardAPI, projected and image are)");
        }
        Path dir = dirs.volume(uid, plugin, v.getName());
        PrivateFiles.createDirectories(dir.getParent());
        PrivateFiles.directory(dir, AtomicWriter.DIRECTORY);
        if (onTmpfs(v) && !mounts.isMountPoint(dir)) {
            // secrets never touch the disk
            mounts.tmpfs("tmpfs", dir, "size=" + node.memoryBytes() + ",mode=0755");
        }
        AtomicWriter.write(dir, payload(st, pod, v));
    }

    /** The plugin directory of a volume whose files the agent writes, or null. */
    private static String plugin(Volume v) {
        if (v.getConfigMap() != null) {
            return CONFIG_MAP;
        }
        if (v.getSecret() != null) {
            return SECRET;
        }
        if (v.getDownwardAPI() != null) {
            return DOWNWARD_API;
        }
        if (v.getProjected() != null) {
            return PROJECTED;
        }
        return null;
    }

    private static boolean onTmpfs(Volume v) {
        return v.getSecret() != null || v.getProjected() != null;
    }

    /** The files volume {@code v} should hold now. */
    private Map<String, AtomicWriter.FileContent> payload(PodState st, Pod pod, Volume v) {
        String ns = pod.getMetadata().getNamespace();
        Map<String, AtomicWriter.FileContent> out = new LinkedHashMap<>();
        if (v.getConfigMap() != null) {
            var s = v.getConfigMap();
            configMapFiles(out, ns, s.getName(), s.getItems(), s.getOptional(), mode(s.getDefaultMode()));
        } else if (v.getSecret() != null) {
            var s = v.getSecret();
            secretFiles(out, ns, s.getSecretName(), s.getItems(), s.getOptional(), mode(s.getDefaultMode()));
        } else if (v.getDownwardAPI() != null) {
            downwardFiles(out, pod, v.getDownwardAPI().getItems(), mode(v.getDownwardAPI().getDefaultMode()));
        } else if (v.getProjected() != null) {
            int defaultMode = mode(v.getProjected().getDefaultMode());
            for (VolumeProjection p : v.getProjected().getSources()) {
                if (p.getConfigMap() != null) {
                    configMapFiles(out, ns, p.getConfigMap().getName(), p.getConfigMap().getItems(), p.getConfigMap().getOptional(),
                            defaultMode);
                } else if (p.getSecret() != null) {
                    secretFiles(out, ns, p.getSecret().getName(), p.getSecret().getItems(), p.getSecret().getOptional(), defaultMode);
                } else if (p.getDownwardAPI() != null) {
                    downwardFiles(out, pod, p.getDownwardAPI().getItems(), defaultMode);
                } else if (p.getServiceAccountToken() != null) {
                    ServiceAccountTokenProjection t = p.getServiceAccountToken();
                    put(out, t.getPath(), token(st, pod, v.getName(), t).getBytes(StandardCharsets.UTF_8), defaultMode);
                } else {
                    throw new VolumeException("a projected source other than configMap, secret, downwardAPI and serviceAccountToken");
                }
            }
        }
        return out;
    }

    private static int mode(Integer m) {
        if (m == null) {
            return DEFAULT_MODE;
        }
        if (m < 0 || m > 0777) {
            throw new VolumeException("mode " + m + " is not within 0 and 0777");
        }
        return m;
    }

    private static void put(Map<String, AtomicWriter.FileContent> out, String path, byte[] data, int mode) {
        AtomicWriter.checkPath(path);
        if (out.put(path, new AtomicWriter.FileContent(data, mode)) != null) {
            throw new VolumeException("two files at path " + path);
        }
    }

    private void configMapFiles(Map<String, AtomicWriter.FileContent> out, String ns, String name, List<KeyToPath> items,
            Boolean optional, int defaultMode) {
        Optional<ConfigMap> cm = objects.configMap(ns, Objects.requireNonNullElse(name, ""));
        if (cm.isEmpty()) {
            if (Boolean.TRUE.equals(optional)) {
                return;
            }
            throw new VolumeException("configmap \"" + name + "\" not found");
        }
        Map<String, byte[]> data = new LinkedHashMap<>();
        orEmpty(cm.get().getData()).forEach((k, val) -> data.put(k, val.getBytes(StandardCharsets.UTF_8)));
        orEmpty(cm.get().getBinaryData()).forEach((k, val) -> data.put(k, decode(val, "configmap " + name)));
        files(out, data, items, optional, defaultMode, "configmap " + name);
    }

    private void secretFiles(Map<String, AtomicWriter.FileContent> out, String ns, String name, List<KeyToPath> items,
            Boolean optional, int defaultMode) {
        Optional<Secret> s = objects.secret(ns, Objects.requireNonNullElse(name, ""));
        if (s.isEmpty()) {
            if (Boolean.TRUE.equals(optional)) {
                return;
            }
            throw new VolumeException("secret \"" + name + "\" not found");
        }
        files(out, secretData(s.get()), items, optional, defaultMode, "secret " + name);
    }

    /** A secret's data decoded, with stringData (which a real API server folds into data) over it. */
    public static Map<String, byte[]> secretData(Secret s) {
        Map<String, byte[]> data = new LinkedHashMap<>();
        orEmpty(s.getData()).forEach((k, val) -> data.put(k, decode(val, "secret " + s.getMetadata().getName())));
        orEmpty(s.getStringData()).forEach((k, val) -> data.put(k, val.getBytes(StandardCharsets.UTF_8)));
        return data;
    }

    private static void files(Map<String, AtomicWriter.FileContent> out, Map<String, byte[]> data, List<KeyToPath> items,
            Boolean optional, int defaultMode, String what) {
        if (items == null || items.isEmpty()) {
            data.forEach((k, val) -> put(out, k, val, defaultMode));
            return;
        }
        for (KeyToPath item : items) {
            byte[] val = data.get(item.getKey());
            if (val == null) {
                if (Boolean.TRUE.equals(optional)) {
                    continue;
                }
                throw new VolumeException(what + " has no key \"" + item.getKey() + "\"");
            }
            put(out, item.getPath(), val, item.getMode() == null ? defaultMode : mode(item.getMode()));
        }
    }

    private void downwardFiles(Map<String, AtomicWriter.FileContent> out, Pod pod, List<DownwardAPIVolumeFile> items, int defaultMode) {
        for (DownwardAPIVolumeFile f : items) {
            String value;
            if (f.getFieldRef() != null) {
                value = DownwardApi.metadataField(pod, f.getFieldRef().getFieldPath());
            } else if (f.getResourceFieldRef() != null) {
                String name = f.getResourceFieldRef().getContainerName();
                Container c = allContainers(pod).stream().filter(x -> x.getName().equals(name)).findFirst()
                        .orElseThrow(() -> new VolumeException("resourceFieldRef of " + f.getPath() + ": no container \"" + name + "\""));
                value = DownwardApi.resource(c, f.getResourceFieldRef(), node);
            } else {
                throw new VolumeException("downwardAPI item " + f.getPath() + " has neither fieldRef nor resourceFieldRef");
            }
            put(out, f.getPath(), value.getBytes(StandardCharsets.UTF_8), f.getMode() == null ? defaultMode : mode(f.getMode()));
        }
    }

    /** The token of a projection: the one had while it is not due, else a new one. */
    private String token(PodState st, Pod pod, String volume, ServiceAccountTokenProjection t) {
        String key = volume + "/" + t.getPath();
        Instant now = clock.instant();
        Token had = st.tokens.get(key);
        if (had != null && !had.due(now)) {
            return had.token();
        }
        long seconds = t.getExpirationSeconds() == null ? DEFAULT_TOKEN_SECONDS : t.getExpirationSeconds();
        if (seconds < MIN_TOKEN_SECONDS) {
            throw new VolumeException("serviceAccountToken expirationSeconds " + seconds + " is below " + MIN_TOKEN_SECONDS);
        }
        String sa = pod.getSpec().getServiceAccountName() == null || pod.getSpec().getServiceAccountName().isEmpty() ? "default"
                : pod.getSpec().getServiceAccountName();
        List<String> audiences = t.getAudience() == null || t.getAudience().isEmpty() ? List.of() : List.of(t.getAudience());
        ObjectSource.ServiceAccountToken got = objects.serviceAccountToken(pod.getMetadata().getNamespace(), sa, audiences, seconds, pod);
        st.tokens.put(key, new Token(got.token(), now, got.expiration()));
        return got.token();
    }

    /**
     * Rewrites the files of every configMap, secret, downwardAPI and projected volume of the
     * pods set up whose content changed (a volume whose source cannot be read now keeps its
     * files). Returns how many volumes changed.
     */
    public int refresh() {
        int changed = 0;
        for (Map.Entry<String, PodState> e : pods.entrySet()) {
            PodState st = e.getValue();
            synchronized (st) {
                if (pods.get(e.getKey()) != st) {
                    continue; // torn down meanwhile
                }
                Pod pod = st.pod;
                for (Volume v : pod.getSpec().getVolumes()) {
                    String plugin = plugin(v);
                    if (plugin == null || !st.ready.contains(v.getName())) {
                        continue;
                    }
                    try {
                        if (AtomicWriter.write(dirs.volume(e.getKey(), plugin, v.getName()), payload(st, pod, v))) {
                            LOG.info("pod {}/{}: volume {} updated", pod.getMetadata().getNamespace(), pod.getMetadata().getName(),
                                    v.getName());
                            changed++;
                        }
                    } catch (VolumeException ex) {
                        LOG.warn("pod {}/{}: volume {} not refreshed: {}", pod.getMetadata().getNamespace(), pod.getMetadata().getName(),
                                v.getName(), ex.getMessage());
                    }
                }
            }
        }
        return changed;
    }

    /**
     * The mounts of {@code container}'s {@code attempt}th run: its volumeMounts, its
     * termination-message file (made here, empty, {@code 0666}) and, unless it mounts a volume
     * there, the pod's /etc/hosts (written here from {@code podIps}; none while the pod has no
     * IP, unless it is on the host network).
     * @param env the container's environment, for subPathExpr
     */
    public List<Mount> containerMounts(Pod pod, Container container, int attempt, Function<String, String> env, List<String> podIps) {
        return containerMounts(pod, container, attempt, env, podIps, Map.of(), false);
    }

    /**
     * The mounts as {@link #containerMounts(Pod, Container, int, Function, List)} makes them,
     * with image volumes mounted from the images in {@code imageRefs} (volume name to the
     * runtime's image id, pulled by the caller) and recursive read-only mounts as each volume
     * mount asks, {@code recursiveReadOnly} telling whether the pod's runtime handler makes them.
     * @throws VolumeException for a recursive read-only request the runtime cannot honour, or
     *         that is not read-only, or propagates
     */
    public List<Mount> containerMounts(Pod pod, Container container, int attempt, Function<String, String> env, List<String> podIps,
            Map<String, String> imageRefs, boolean recursiveReadOnly) {
        String uid = pod.getMetadata().getUid();
        Map<String, Volume> volumes = new HashMap<>();
        pod.getSpec().getVolumes().forEach(v -> volumes.put(v.getName(), v));
        List<Mount> out = new ArrayList<>();
        boolean hostsMounted = false;
        boolean privileged = container.getSecurityContext() != null && Boolean.TRUE.equals(container.getSecurityContext().getPrivileged());
        for (VolumeMount m : container.getVolumeMounts()) {
            Volume v = volumes.get(m.getName());
            if (v == null) {
                throw new VolumeException("container " + container.getName() + " mounts volume \"" + m.getName() + "\", which the pod does not have");
            }
            if (v.getImage() != null) {
                String image = imageRefs.get(v.getName());
                if (image == null) {
                    throw new VolumeException("image volume " + v.getName() + " of container " + container.getName() + " is not pulled");
                }
                out.add(Mount.newBuilder().setContainerPath(m.getMountPath()).setReadonly(true)
                        .setImage(dev.berth.cri.v1.ImageSpec.newBuilder().setImage(image))
                        .setImageSubPath(Objects.requireNonNullElse(m.getSubPath(), ""))
                        .setRecursiveReadOnly(recursiveReadOnly(m, true, recursiveReadOnly, container)).build());
                continue;
            }
            Path source = v.getHostPath() != null ? Path.of(v.getHostPath().getPath())
                    : dirs.volume(uid, v.getEmptyDir() != null ? EMPTY_DIR : Objects.requireNonNullElse(plugin(v), "unsupported"), v.getName());
            String sub = m.getSubPath();
            if (m.getSubPathExpr() != null && !m.getSubPathExpr().isEmpty()) {
                sub = Expansion.expand(m.getSubPathExpr(), env);
            }
            if (sub != null && !sub.isEmpty()) {
                source = subPath(source, sub, m.getName());
            }
            MountPropagation propagation = propagation(m.getMountPropagation(), privileged, m.getName());
            boolean readOnly = Boolean.TRUE.equals(m.getReadOnly()) || plugin(v) != null; // API data is never writable
            if (Path.of(m.getMountPath()).normalize().equals(Path.of("/etc/hosts"))) {
                hostsMounted = true;
            }
            boolean rro = recursiveReadOnly(m, readOnly, recursiveReadOnly, container);
            if (rro && propagation != MountPropagation.PROPAGATION_PRIVATE) {
                throw new VolumeException("volume " + m.getName() + " of container " + container.getName()
                        + " requested recursive read-only mode, but it has propagation " + m.getMountPropagation());
            }
            out.add(Mount.newBuilder().setContainerPath(m.getMountPath()).setHostPath(source.toString()).setReadonly(readOnly)
                    .setPropagation(propagation).setRecursiveReadOnly(rro).build());
        }
        String messagePath = Objects.requireNonNullElse(container.getTerminationMessagePath(), DEFAULT_TERMINATION_MESSAGE_PATH);
        if (!messagePath.isEmpty()) {
            Path file = terminationMessageFile(uid, container.getName(), attempt);
            out.add(Mount.newBuilder().setContainerPath(messagePath).setHostPath(file.toString()).build());
        }
        if (!hostsMounted) {
            Path hosts = hostsFile(pod, podIps);
            if (hosts != null) {
                out.add(Mount.newBuilder().setContainerPath("/etc/hosts").setHostPath(hosts.toString()).build());
            }
        }
        return out;
    }

    /**
     * Whether mount {@code m} is made recursively read-only, by the kubelet's rules: Disabled
     * (or unset) never; IfPossible when the runtime can; Enabled always, refused when the
     * runtime cannot or the mount is not read-only.
     */
    private static boolean recursiveReadOnly(VolumeMount m, boolean readOnly, boolean supported, Container container) {
        String mode = m.getRecursiveReadOnly();
        if (mode == null || mode.equals("Disabled")) {
            return false;
        }
        if (!readOnly) {
            throw new VolumeException("volume " + m.getName() + " of container " + container.getName()
                    + " requested recursive read-only mode, but it is not read-only");
        }
        return switch (mode) {
            case "IfPossible" -> supported;
            case "Enabled" -> {
                if (!supported) {
                    throw new VolumeException("volume " + m.getName() + " of container " + container.getName()
                            + " requested recursive read-only mode, but it is not supported by the runtime");
                }
                yield true;
            }
            default -> throw new VolumeException("volume " + m.getName() + ": unknown recursiveReadOnly " + mode);
        };
    }

    private static MountPropagation propagation(String p, boolean privileged, String volume) {
        if (p == null || p.equals("None")) {
            return MountPropagation.PROPAGATION_PRIVATE;
        }
        return switch (p) {
            case "HostToContainer" -> MountPropagation.PROPAGATION_HOST_TO_CONTAINER;
            case "Bidirectional" -> {
                if (!privileged) {
                    throw new VolumeException("volume " + volume + ": Bidirectional mount propagation is available only to privileged containers");
                }
                yield MountPropagation.PROPAGATION_BIDIRECTIONAL;
            }
            default -> throw new VolumeException("volume " + volume + ": unknown mountPropagation " + p);
        };
    }

    /**
     * {@code sub} inside {@code root}, made a directory if missing: relative, no {@code ..}, and
     * no symbolic link on the way may lead out of the volume. The real path is returned, so
     * the runtime mounts what was checked.
     */
    static Path subPath(Path root, String sub, String volume) {
        if (sub.startsWith("/") || sub.indexOf('\0') >= 0) {
            throw new VolumeException("volume " + volume + ": subPath \"" + sub + "\" must be relative");
        }
        for (String element : sub.split("/")) {
            if (element.equals("..")) {
                throw new VolumeException("volume " + volume + ": subPath \"" + sub + "\" must not contain '..'");
            }
        }
        try {
            Path realRoot = root.toRealPath();
            Path target = realRoot.resolve(sub).normalize();
            if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                Path cur = realRoot;
                for (Path element : realRoot.relativize(target)) {
                    cur = cur.resolve(element);
                    if (!Files.exists(cur, LinkOption.NOFOLLOW_LINKS)) {
                        try {
                            Files.createDirectory(cur, PosixFilePermissions.asFileAttribute(Files.getPosixFilePermissions(realRoot)));
                        } catch (FileAlreadyExistsException e) {
                            // made meanwhile; checked below
                        }
                    }
                    if (!cur.toRealPath().startsWith(realRoot)) {
                        throw new VolumeException("volume " + volume + ": subPath \"" + sub + "\" leads out of the volume");
                    }
                }
            }
            Path real = target.toRealPath();
            if (!real.startsWith(realRoot)) {
                throw new VolumeException("volume " + volume + ": subPath \"" + sub + "\" leads out of the volume");
            }
            return real;
        } catch (IOException e) {
            throw new VolumeException("volume " + volume + ": subPath \"" + sub + "\": " + e, e);
        }
    }

    /** Makes the empty, world-writable file a container run writes its termination message to. */
    private Path terminationMessageFile(String uid, String container, int attempt) {
        Path file = dirs.terminationMessage(uid, container, attempt);
        try {
            PrivateFiles.createDirectories(file.getParent());
            try {
                Files.createFile(file, PosixFilePermissions.asFileAttribute(WRITABLE_BY_ALL));
            } catch (FileAlreadyExistsException e) {
                if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
                    throw e;
                }
            }
            Files.setPosixFilePermissions(file, WRITABLE_BY_ALL);
        } catch (IOException e) {
            throw new VolumeException("cannot make the termination-message file of container " + container + ": " + e, e);
        }
        return file;
    }

    /** Writes the pod's hosts file ({@code <pod dir>/etc-hosts}); null when the pod has no IP yet. */
    private Path hostsFile(Pod pod, List<String> podIps) {
        boolean hostNetwork = Boolean.TRUE.equals(pod.getSpec().getHostNetwork());
        String content;
        try {
            if (hostNetwork) {
                content = EtcHosts.hostNetwork(Files.exists(nodeHosts) ? Files.readString(nodeHosts) : "", pod.getSpec().getHostAliases());
            } else if (podIps.isEmpty()) {
                return null;
            } else {
                String hostname = hostname(pod);
                String sub = pod.getSpec().getSubdomain();
                String fqdn = sub == null || sub.isEmpty() || clusterDomain.isEmpty() ? ""
                        : hostname + "." + sub + "." + pod.getMetadata().getNamespace() + ".svc." + clusterDomain;
                content = EtcHosts.managed(podIps, hostname, fqdn, pod.getSpec().getHostAliases());
            }
            Path file = dirs.pod(pod.getMetadata().getUid()).resolve("etc-hosts");
            AtomicFiles.write(file, content.getBytes(StandardCharsets.UTF_8), PrivateFiles.READABLE, false);
            return file;
        } catch (IOException e) {
            throw new VolumeException("cannot write the hosts file of pod " + pod.getMetadata().getName() + ": " + e, e);
        }
    }

    /** spec.hostname, or the pod's name, cut to 63 characters without a trailing '-' or '.' (as the sandbox's). */
    private static String hostname(Pod pod) {
        String h = pod.getSpec().getHostname();
        if (h == null || h.isEmpty()) {
            h = pod.getMetadata().getName();
        }
        if (h.length() > 63) {
            h = h.substring(0, 63).replaceAll("[-.]+$", "");
        }
        return h;
    }

    /**
     * Unmounts and removes everything of pod {@code uid} (its volumes' tmpfs mounts, files,
     * termination messages, hosts file); for after its sandbox is gone. Idempotent.
     * @throws VolumeException when something stays mounted (then nothing is deleted)
     */
    public void tearDown(String uid) {
        PodState st = pods.remove(uid);
        Object lock = st != null ? st : new Object();
        synchronized (lock) {
            Path dir = dirs.pod(uid);
            if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                return;
            }
            mounts.unmountAllUnder(dir);
            if (mounts.mountCountUnder(dir) > 0) {
                throw new VolumeException("pod " + uid + ": still mounted under " + dir + ": " + mounts.mountPointsUnder(dir));
            }
            try {
                Trees.deleteRecursively(dir);
            } catch (IOException e) {
                throw new VolumeException("cannot remove the directory of pod " + uid + ": " + e, e);
            }
        }
    }

    /**
     * Tears down the directories of pods not in {@code live} (the pods the runtime still runs
     * or the agent still wants), as at start after pods went while no agent ran. Returns the
     * uids removed.
     */
    public List<String> removeOrphans(Set<String> live) {
        List<String> removed = new ArrayList<>();
        if (!Files.isDirectory(dirs.podsDir())) {
            return removed;
        }
        List<String> names = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dirs.podsDir())) {
            ds.forEach(p -> names.add(p.getFileName().toString()));
        } catch (IOException e) {
            LOG.warn("cannot list {}: {}", dirs.podsDir(), e.toString());
            return removed;
        }
        for (String uid : names) {
            if (live.contains(uid) || pods.containsKey(uid)) {
                continue;
            }
            try {
                tearDown(uid);
                removed.add(uid);
                LOG.info("removed the volumes of pod {}, which no longer runs", uid);
            } catch (RuntimeException e) {
                LOG.warn("cannot remove the volumes of pod {}: {}", uid, e.getMessage());
            }
        }
        return removed;
    }

    private static List<Container> allContainers(Pod pod) {
        List<Container> all = new ArrayList<>(pod.getSpec().getInitContainers());
        all.addAll(pod.getSpec().getContainers());
        return all;
    }

    private static Map<String, String> orEmpty(Map<String, String> m) {
        return m == null ? Map.of() : m;
    }

    private static byte[] decode(String base64, String what) {
        try {
            return Base64.getDecoder().decode(base64 == null ? "" : base64);
        } catch (IllegalArgumentException e) {
            throw new VolumeException(what + ": a value is not valid base64");
        }
    }
}
