package dev.berth.host;

import java.nio.file.Path;
import java.util.Map;

/**
 * Making a pod's namespaces. A namespace lives on through its pin (a bind mount of it onto a
 * file) with no process in it, and ends when the pin is unmounted ({@link HostMounts}) and its
 * last user is gone. {@link LinuxNamespaces} unshares on a short-lived thread; the test-jar's
 * {@code FakeNamespaces} records pins as mounts of its {@code FakeMounts}.
 */
public interface HostNamespaces {
    /** The kinds of namespace a pod gets of its own, with their clone flag and /proc name. */
    enum Kind {
        NET(Libc.CLONE_NEWNET, "net"), IPC(Libc.CLONE_NEWIPC, "ipc"), UTS(Libc.CLONE_NEWUTS, "uts");

        private final int cloneFlag;
        private final String procName;

        Kind(int cloneFlag, String procName) {
            this.cloneFlag = cloneFlag;
            this.procName = procName;
        }

        public int cloneFlag() {
            return cloneFlag;
        }

        /** The name under /proc/PID/ns/. */
        public String procName() {
            return procName;
        }
    }

    /**
     * New namespaces, one of each kind in {@code pins}, each pinned at its path (an existing
     * empty file), with {@code hostname} set when a UTS namespace is made (and non-empty).
     */
    void createPinned(Map<Kind, Path> pins, String hostname);

    /**
     * A new user namespace with the maps {@code uidMap} and {@code gidMap} (the text of
     * {@code /proc/PID/uid_map} and {@code gid_map}: lines "inside host length"), pinned at
     * {@code userPin}, and new namespaces of the kinds in {@code pins} owned by it, each pinned at
     * its path (existing empty files), with {@code hostname} set when a UTS namespace is made.
     * The pod's network, IPC and UTS namespaces must belong to its user namespace: only then may
     * the pod's root mount sysfs and mqueue and write its namespaced sysctls.
     */
    default void createPinnedInUserNamespace(Path userPin, String uidMap, String gidMap, Map<Kind, Path> pins, String hostname) {
        throw dev.berth.common.BerthException.failedPrecondition("%s makes no user namespaces", getClass().getSimpleName());
    }

    /**
     * Writes {@code files} (paths under /proc/sys, in iteration order) as a process joined to
     * the pinned namespaces in {@code pins}: the kernel resolves a namespaced sysctl against the
     * writer's own network and IPC namespaces.
     *
     * @throws dev.berth.common.BerthException with the writer's diagnostic as its message when a write fails
     */
    void writeProcSys(Map<Kind, Path> pins, Map<String, String> files);
}
