package dev.berth.agent.pod;

import io.fabric8.kubernetes.api.model.Pod;

/**
 * Where each pod's cgroup is and who keeps it: the agent's QoS cgroup tree
 * ({@code dev.berth.agent.cgroup}), or {@link #NONE}, which leaves the pod's cgroup to the
 * runtime's default.
 */
public interface PodCgroups {
    /** No pod cgroups of the agent's own: no cgroup parent, nothing made or removed. */
    PodCgroups NONE = new PodCgroups() {
        @Override
        public String parent(Pod pod) {
            return "";
        }

        @Override
        public void ensure(Pod pod) {
        }

        @Override
        public void released(String uid) {
        }
    };

    /** The pod's cgroup, the CRI {@code cgroup_parent} of its sandbox; empty for none. Pure. */
    String parent(Pod pod);

    /**
     * The pod's cgroup exists with the pod's limits, and its QoS class's cgroup counts the pod;
     * called before each sandbox is run and on every sync (cheap when nothing changed).
     */
    void ensure(Pod pod);

    /** Every sandbox of pod {@code uid} is removed: its cgroup goes as soon as no process is left in it. */
    void released(String uid);
}
