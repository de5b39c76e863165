package dev.berth.agent.pod;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.AtomicFiles;
import dev.berth.common.Json;
import dev.berth.common.PrivateFiles;
import dev.berth.cri.v1.IDMapping;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.UserNamespace;
import io.fabric8.kubernetes.api.model.Pod;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * The user namespaces of pods with {@code hostUsers: false}, allocated as the kubelet allocates
 * them: each such pod gets its own range of {@link #IDS_PER_POD} host ids, the same for uids and
 * gids, container id 0 mapped to the range's first id; ranges are aligned to their length and
 * come from the ids given to the user {@code kubelet} in {@code /etc/subuid} and
 * {@code /etc/subgid}, else from 65536 up to the top of the 32-bit id space (id 0 is never
 * handed out). A pod's range is written to {@code <pod dir>/userns} (the kubelet's file and
 * format) before its sandbox runs, so it survives an agent restart; it is free again once that
 * file is gone (the pod's directory is removed with the pod, see {@link #released}).
 */
public final class UserNamespaces {
    /** The ids each pod's namespace maps (the kubelet's default). */
    public static final long IDS_PER_POD = 65536;
    static final String FILE = "userns";
    /** The user whose sub-id ranges the allocation uses, as for the kubelet. */
    static final String SUBID_OWNER = "kubelet";

    /** Thrown when a pod's user namespace cannot be had; the pod cannot start. */
    public static final class UserNamespaceException extends RuntimeException {
        UserNamespaceException(String message) {
            super(message);
        }
    }

    private final PodDirs dirs;
    private final long firstSlot;
    private final long slots;
    private final Predicate<String> handlerSupports;
    /** Pod uid to its slot (its first host id / IDS_PER_POD), for the pods whose file was read or written. */
    private final Map<String, Long> used = new HashMap<>();

    /**
     * @param firstId the first host id pods may get (a multiple of {@link #IDS_PER_POD}, at least that)
     * @param length how many ids from there (a multiple of {@link #IDS_PER_POD})
     * @param handlerSupports whether a runtime handler ("" the default) supports user namespaces
     */
    public UserNamespaces(PodDirs dirs, long firstId, long length, Predicate<String> handlerSupports) {
        if (firstId < IDS_PER_POD || firstId % IDS_PER_POD != 0 || length % IDS_PER_POD != 0 || length <= 0) {
            throw new IllegalArgumentException("user namespace ids " + firstId + "+" + length + " are not whole ranges of "
                    + IDS_PER_POD + " above 0");
        }
        this.dirs = dirs;
        this.firstSlot = firstId / IDS_PER_POD;
        this.slots = length / IDS_PER_POD;
        this.handlerSupports = handlerSupports;
    }

    /**
     * From the {@code kubelet} entries of {@code subuid} and {@code subgid} when both exist and
     * agree (else the whole id space above 65535), checked to hold {@code maxPods} ranges.
     */
    public static UserNamespaces fromSubIds(PodDirs dirs, Path subuid, Path subgid, int maxPods, Predicate<String> handlerSupports) {
        long[] u = subIds(subuid);
        long[] g = subIds(subgid);
        long first = IDS_PER_POD;
        long length = (1L << 32) - IDS_PER_POD;
        if (u != null || g != null) {
            if (u == null || g == null || u[0] != g[0] || u[1] != g[1]) {
                throw new IllegalArgumentException("the " + SUBID_OWNER + " entries of " + subuid + " and " + subgid + " differ");
            }
            first = u[0];
            length = u[1] - u[1] % IDS_PER_POD;
        }
        if (length / IDS_PER_POD < maxPods) {
            throw new IllegalArgumentException("the user namespace ids " + first + "+" + length + " hold fewer than max_pods ("
                    + maxPods + ") ranges of " + IDS_PER_POD);
        }
        return new UserNamespaces(dirs, first, length, handlerSupports);
    }

    /** The first {@code kubelet:<first>:<count>} line of a sub-id file, or null. */
    static long[] subIds(Path file) {
        List<String> lines;
        try {
            if (!Files.isRegularFile(file) || Files.size(file) > (1 << 20)) {
                return null;
            }
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return null;
        }
        for (String line : lines) {
            String[] f = line.trim().split(":");
            if (f.length == 3 && f[0].equals(SUBID_OWNER)) {
                try {
                    return new long[] {Long.parseLong(f[1]), Long.parseLong(f[2])};
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(file + ": bad " + SUBID_OWNER + " entry \"" + line + "\"");
                }
            }
        }
        return null;
    }

    /**
     * The CRI user namespace of {@code pod}: NODE unless it sets {@code hostUsers: false}; then
     * POD with the pod's range (read back from its file, or allocated and written now).
     * @throws UserNamespaceException when the handler cannot run user namespaces or no range is free
     */
    public synchronized UserNamespace forPod(Pod pod, String handler) {
        if (pod.getSpec().getHostUsers() == null || pod.getSpec().getHostUsers()) {
            return UserNamespace.newBuilder().setMode(NamespaceMode.NODE).build();
        }
        if (!handlerSupports.test(handler)) {
            throw new UserNamespaceException(handler.isEmpty()
                    ? "can't set `spec.hostUsers: false`, runtime does not support user namespaces"
                    : "can't set `spec.hostUsers: false`, RuntimeClass handler \"" + handler + "\" does not support user namespaces");
        }
        String uid = pod.getMetadata().getUid();
        return pod(read(uid).orElseGet(() -> allocate(uid)));
    }

    /**
     * The user namespace of a container of {@code pod}: the one its sandbox got (read back from
     * the pod's record, without asking the runtime again), or as {@link #forPod} when there is
     * none yet.
     */
    public synchronized UserNamespace forContainer(Pod pod, String handler) {
        if (pod.getSpec().getHostUsers() == null || pod.getSpec().getHostUsers()) {
            return UserNamespace.newBuilder().setMode(NamespaceMode.NODE).build();
        }
        Optional<Long> first = read(pod.getMetadata().getUid());
        return first.isPresent() ? pod(first.get()) : forPod(pod, handler);
    }

    private static UserNamespace pod(long first) {
        IDMapping m = IDMapping.newBuilder().setContainerId(0).setHostId((int) first).setLength((int) IDS_PER_POD).build();
        return UserNamespace.newBuilder().setMode(NamespaceMode.POD).addUids(m).addGids(m).build();
    }

    /** Forgets the pod's range (its file goes with its directory). */
    public synchronized void released(String uid) {
        used.remove(uid);
        try {
            Files.deleteIfExists(dirs.pod(uid).resolve(FILE));
        } catch (IOException | IllegalArgumentException e) {
            // the pod's directory goes as a whole; a file left is read back for the same uid only
        }
    }

    /** The pod's recorded first host id, checked against the ranges this node hands out. */
    private Optional<Long> read(String uid) {
        Path file = dirs.pod(uid).resolve(FILE);
        JsonNode n;
        try {
            if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) || Files.size(file) > 4096) {
                return Optional.empty();
            }
            n = Json.mapper().readTree(Files.readAllBytes(file));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new UserNamespaceException("user namespace of pod " + uid + ": unreadable " + file + ": " + e.getMessage());
        }
        JsonNode u = n.path("uidMappings");
        JsonNode g = n.path("gidMappings");
        if (u.size() != 1 || !u.equals(g) || u.get(0).path("containerId").asLong(-1) != 0
                || u.get(0).path("length").asLong() != IDS_PER_POD) {
            throw new UserNamespaceException("user namespace of pod " + uid + ": " + file
                    + " is not one identical uid and gid mapping of container id 0 over " + IDS_PER_POD + " ids");
        }
        long first = u.get(0).path("hostId").asLong();
        long slot = first / IDS_PER_POD;
        if (first % IDS_PER_POD != 0 || slot < firstSlot || slot >= firstSlot + slots) {
            throw new UserNamespaceException("user namespace of pod " + uid + ": host id " + first + " is outside this node's ranges");
        }
        Long before = used.get(uid);
        if (before == null) {
            purgeGone();
            if (used.containsValue(slot)) {
                throw new UserNamespaceException("user namespace of pod " + uid + ": host id " + first + " is taken by another pod");
            }
            used.put(uid, slot);
        }
        return Optional.of(first);
    }

    private long allocate(String uid) {
        purgeGone();
        java.util.Set<Long> taken = new java.util.HashSet<>(used.values());
        for (long i = 0; i < slots; i++) {
            long slot = firstSlot + i;
            if (taken.contains(slot)) {
                continue;
            }
            long first = slot * IDS_PER_POD;
            String body = "{\"uidMappings\":[{\"hostId\":" + first + ",\"containerId\":0,\"length\":" + IDS_PER_POD + "}],"
                    + "\"gidMappings\":[{\"hostId\":" + first + ",\"containerId\":0,\"length\":" + IDS_PER_POD + "}]}";
            try {
                Path dir = dirs.pod(uid);
                if (!Files.isDirectory(dir)) {
                    PrivateFiles.createDirectories(dir);
                }
                AtomicFiles.write(dir.resolve(FILE), body.getBytes(StandardCharsets.UTF_8), PrivateFiles.FILE, true);
            } catch (IOException e) {
                throw new UserNamespaceException("user namespace of pod " + uid + ": cannot record its range: " + e.getMessage());
            }
            used.put(uid, slot);
            return first;
        }
        throw new UserNamespaceException("could not find an empty slot to allocate a user namespace");
    }

    /** Drops the pods whose file is gone (their directory was removed with them). */
    private void purgeGone() {
        used.keySet().removeIf(uid -> !Files.exists(dirs.pod(uid).resolve(FILE), LinkOption.NOFOLLOW_LINKS));
    }

    /** Records every range already written (at start), so no two pods share one. */
    public synchronized void recover() {
        if (!Files.isDirectory(dirs.podsDir())) {
            return;
        }
        try (var ds = Files.newDirectoryStream(dirs.podsDir())) {
            for (Path p : ds) {
                try {
                    read(p.getFileName().toString());
                } catch (RuntimeException e) {
                    // a bad file fails that pod's own start, with its reason, not the agent's
                }
            }
        } catch (IOException e) {
            throw new UserNamespaceException("cannot list " + dirs.podsDir() + ": " + e.getMessage());
        }
    }
}
