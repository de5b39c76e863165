package dev.berth.podsandbox.container;

import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.ImageConfig;
import dev.berth.podsandbox.container.spec.SandboxContext;
import java.nio.file.Path;

/**
 * What the engine needs to create a container, as plain values: the caller
 * ({@link ContainerService}) has already resolved the image (its reference and config),
 * prepared the root filesystem, and looked up the sandbox's namespaces, files and the
 * container's cgroup path.
 *
 * @param handler the runtime handler of the pod ("" for the default)
 */
public record CreateRequest(
        ContainerConfig config,
        ImageConfig image,
        String imageRef,
        SandboxContext sandbox,
        Path rootfs,
        String handler) {
}
