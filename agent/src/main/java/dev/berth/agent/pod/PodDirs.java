package dev.berth.agent.pod;

import java.nio.file.Path;

/**
 * Where the agent keeps each pod's files under its state directory, as the kubelet lays out
 * {@code /var/lib/kubelet/pods}: {@code <state>/pods/<uid>/volumes/<plugin>/<volume>} for its
 * volumes and {@code <state>/pods/<uid>/containers/<container>/<attempt>} for the file each
 * container run gets at its terminationMessagePath. Uids reaching here are the API server's or
 * a static pod's own (checked by the caller), never a path.
 */
public final class PodDirs {
    private final Path podsDir;

    public PodDirs(Path stateDir) {
        this.podsDir = stateDir.resolve("pods");
    }

    /** {@code <state>/pods}: one directory per pod uid. */
    public Path podsDir() {
        return podsDir;
    }

    public Path pod(String uid) {
        return podsDir.resolve(checked(uid));
    }

    /** The directory of volume {@code name} of plugin {@code plugin} (e.g. {@code kubernetes.io~empty-dir}). */
    public Path volume(String uid, String plugin, String name) {
        return pod(uid).resolve("volumes").resolve(checked(plugin)).resolve(checked(name));
    }

    /** The host file mounted at the terminationMessagePath of the {@code attempt}th run of {@code container}. */
    public Path terminationMessage(String uid, String container, int attempt) {
        return pod(uid).resolve("containers").resolve(checked(container)).resolve(Integer.toString(attempt));
    }

    /** A single path element: no separator, not "." or "..", not empty. */
    static String checked(String element) {
        if (element == null || element.isEmpty() || element.equals(".") || element.equals("..") || element.indexOf('/') >= 0
                || element.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("not a single path element: \"" + element + "\"");
        }
        return element;
    }
}
