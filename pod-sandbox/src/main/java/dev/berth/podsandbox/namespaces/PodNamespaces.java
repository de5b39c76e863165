package dev.berth.podsandbox.namespaces;

import java.nio.file.Path;

/**
 * The pinned namespaces of one pod; a null path means the pod uses the host's namespace of that
 * kind. Containers join them by path.
 */
public record PodNamespaces(Path net, Path ipc, Path uts) {
    public static PodNamespaces host() {
        return new PodNamespaces(null, null, null);
    }

    public boolean any() {
        return net != null || ipc != null || uts != null;
    }
}
