package dev.berth.agent.runtime;

import dev.berth.cgroups.Cgroups;
import dev.berth.common.BerthException;
import java.util.Optional;

/**
 * The cgroup manager until berth's cgroups module is wired in: a pod that asks for a cgroup
 * parent is refused (FAILED_PRECONDITION); pods without one need nothing from it. It never
 * creates, changes or removes a cgroup.
 */
public final class NoPodCgroups implements Cgroups {
    private final String driver;

    public NoPodCgroups(String driver) {
        this.driver = driver;
    }

    @Override
    public String mode() {
        return "unmanaged";
    }

    @Override
    public String driver() {
        return driver;
    }

    @Override
    public String createPod(String parent, Resources resources) {
        throw BerthException.failedPrecondition("pod cgroups are not available yet: cannot create a pod cgroup under %s", parent);
    }

    @Override
    public String containerPath(String podCgroup, String containerId) {
        throw BerthException.failedPrecondition("pod cgroups are not available yet");
    }

    @Override
    public void update(String path, Resources resources) {
        throw BerthException.failedPrecondition("pod cgroups are not available yet");
    }

    @Override
    public void killAll(String path) {
    }

    @Override
    public void remove(String path) {
        // this manager never created one
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
