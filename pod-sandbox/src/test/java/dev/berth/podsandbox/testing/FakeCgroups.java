package dev.berth.podsandbox.testing;

import dev.berth.cgroups.Cgroups;
import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/** An in-memory stand-in for the cgroup manager: remembers which pod cgroups exist and with what resources. */
public final class FakeCgroups implements Cgroups {
    public final Map<String, Resources> pods = new ConcurrentHashMap<>();
    public volatile boolean failCreate;
    /** The next this many removals fail (the cgroup stays). */
    public final AtomicInteger failNextRemoves = new AtomicInteger();
    /** Every path a removal was asked for, in order. */
    public final java.util.List<String> removed = new java.util.concurrent.CopyOnWriteArrayList<>();

    @Override
    public String mode() {
        return "fake";
    }

    @Override
    public String driver() {
        return "cgroupfs";
    }

    /** As with the cgroupfs driver: the CRI cgroup parent is the pod's cgroup. */
    @Override
    public String podPath(String parent) {
        if (parent == null || parent.isEmpty() || parent.equals("/")) {
            throw BerthException.invalidArgument("invalid pod cgroup parent \"%s\"", parent);
        }
        return parent;
    }

    @Override
    public String createPod(String parent, Resources resources) {
        if (failCreate) {
            throw BerthException.failedPrecondition("scripted cgroup failure under %s", parent);
        }
        String path = podPath(parent);
        pods.put(path, resources);
        return path;
    }

    /**
     * A flat, top-level path: the pod cgroups of this fake do not exist on the system, so a
     * container (the infra process) placed here gets exactly one cgroup of its own from the OCI
     * runtime, which the runtime removes again on delete.
     */
    @Override
    public String containerPath(String podCgroup, String containerId) {
        return "/berth-fake-" + containerId;
    }

    @Override
    public void update(String path, Resources resources) {
        pods.put(path, resources);
    }

    @Override
    public void remove(String path) {
        if (failNextRemoves.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
            throw BerthException.unavailable("scripted failure removing cgroup %s", path);
        }
        removed.add(path);
        pods.remove(path);
    }

    @Override
    public Optional<CgroupStats> stats(String path) {
        return Optional.empty();
    }

    @Override
    public long oomKills(String path) {
        return 0;
    }
}
