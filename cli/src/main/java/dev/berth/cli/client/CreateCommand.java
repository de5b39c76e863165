package dev.berth.cli.client;

import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.PodSandboxConfig;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth create}: CreateContainer in a pod from crictl-shaped config files. */
@Command(name = "create", mixinStandardHelpOptions = true, description = {"Create a container in a pod and print its ID.",
        "POD is a pod ID, a unique ID prefix or a pod name. CONTAINER-CONFIG is a ContainerConfig and POD-CONFIG the "
                + "PodSandboxConfig the pod was run with, as crictl takes them (JSON or YAML). As crictl, the image is not "
                + "pulled unless --with-pull is given (then only when the runtime does not have it)."},
        footerHeading = "%nExamples:%n",
        footer = {"  pod=$(berth runp pod.json)",
                "  berth create $pod container.json pod.json",
                "  berth create --with-pull web container.yaml pod.yaml"})
final class CreateCommand implements Callable<Integer> {
    @Mixin
    ClientOptions options;
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "POD", description = "the pod")
    String pod;
    @Parameters(index = "1", paramLabel = "CONTAINER-CONFIG", description = "ContainerConfig file (JSON or YAML)")
    Path containerConfig;
    @Parameters(index = "2", paramLabel = "POD-CONFIG", description = "PodSandboxConfig file (JSON or YAML)")
    Path podConfig;

    @Option(names = "--with-pull", description = "pull the image first when the runtime does not have it")
    boolean withPull;
    @Option(names = "--no-pull", description = "do not pull the image (the default)")
    boolean noPull;

    @Override
    public Integer call() {
        if (withPull && noPull) {
            throw ClientException.usage("--with-pull and --no-pull exclude each other");
        }
        ContainerConfig container = CriConfigs.containerConfig(containerConfig);
        PodSandboxConfig podSandbox = CriConfigs.podConfig(podConfig);
        try (CriSession cri = options.connect()) {
            String podId = Resolve.pod(cri, pod);
            if (withPull) {
                Pulls.ensure(cri, container.getImage().getImage(), podSandbox, null, null);
            }
            spec.commandLine().getOut().println(create(cri, podId, container, podSandbox));
        }
        return ExitCodes.OK;
    }

    static String create(CriSession cri, String podId, ContainerConfig container, PodSandboxConfig podSandbox) {
        if (container.getImage().getImage().isEmpty()) {
            throw ClientException.usage("the container config names no image (image: {image: ...})");
        }
        return cri.runtime().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(podId).setConfig(container)
                .setSandboxConfig(podSandbox).build()).getContainerId();
    }
}
