package dev.berth.podsandbox.namespaces;

import java.nio.file.Path;

/**
 * The pinned namespaces of one pod; a null path means the pod uses the host's namespace of that
 * kind. Containers join them by path. {@code user}, when the pod has one, owns the others.
 */
public record PodNamespaces(Path net, Path ipc, Path uts, Path user) {
    public static PodNamespaces host() {
        return new PodNamespaces(null, null, null, null);
    }

    /** In the host's user namespace. */
    public PodNamespaces(Path net, Path ipc, Path uts) {
        this(net, ipc, uts, null);
    }

    public boolean any() {
        return net != null || ipc != null || uts != null || user != null;
    }
}
