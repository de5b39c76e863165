package dev.berth.podsandbox.container;

import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import java.util.function.Function;

/**
 * A CreateContainer request in the runtime's terms.
 *
 * @param sandboxId the pod's sandbox id (or a unique prefix of it)
 * @param image     the image by name, digest or id
 * @param logPath   the container's log path as given, relative to the pod's log directory
 * @param pid       the PID namespace the container asks for; null for the pod's
 * @param pidTarget the container whose PID namespace a {@code TARGET} mode joins
 * @param config    the container's config given its resolved log path (translation happens
 *                  once the pod and the image are known, so their errors come first)
 * @param userns    the user namespace the container's config names (the kubelet repeats the
 *                  pod's), null when it names none; it must be the pod's
 */
public record NewContainer(
        String sandboxId,
        String image,
        String logPath,
        SandboxConfig.NamespaceMode pid,
        String pidTarget,
        Function<String, ContainerConfig> config,
        SandboxConfig.UserNamespace userns) {

    public NewContainer(String sandboxId, String image, String logPath, SandboxConfig.NamespaceMode pid, String pidTarget,
                        Function<String, ContainerConfig> config) {
        this(sandboxId, image, logPath, pid, pidTarget, config, null);
    }
}
