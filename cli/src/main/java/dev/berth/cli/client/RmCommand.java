package dev.berth.cli.client;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.RemoveContainerRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth rm}: RemoveContainer; a running container only with --force. */
@Command(name = "rm", mixinStandardHelpOptions = true, description = {"Remove containers; prints each one's ID.",
        "A running container is refused unless --force is given, which stops it first (at once)."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth rm 1f2e3d4c5b6a", "  berth rm -f web-server", "  berth rm -a        # every container that is not running",
                "  berth rm -a -f     # every container"})
final class RmCommand implements Callable<Integer> {
    @Mixin
    ClientOptions options;
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "CONTAINER", arity = "0..*", description = "containers to remove")
    List<String> containers = new ArrayList<>();

    @Option(names = {"-f", "--force"}, description = "stop running containers first")
    boolean force;

    @Option(names = {"-a", "--all"}, description = "remove every container (the running ones only with --force)")
    boolean all;

    @Override
    public Integer call() {
        if (containers.isEmpty() == !all) {
            throw ClientException.usage(all ? "give containers or --all, not both" : "name at least one container, or give --all");
        }
        try (CriSession cri = options.connect()) {
            List<String> names = containers;
            if (all) {
                names = new ArrayList<>();
                for (Container c : cri.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
                    if (force || c.getState() != ContainerState.CONTAINER_RUNNING) {
                        names.add(c.getId());
                    }
                }
            }
            return Each.run(spec, names, what -> {
                // --all listed IDs already: resolving each would list everything again per object
                String id = all ? what : Resolve.container(cri, what);
                remove(cri, id, force);
                return id;
            });
        }
    }

    static void remove(CriSession cri, String id, boolean force) {
        ContainerState state = cri.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build())
                .getStatus().getState();
        if (state == ContainerState.CONTAINER_RUNNING) {
            if (!force) {
                throw new ClientException(ExitCodes.FAILED, "container " + id + " is running; stop it first, or use --force");
            }
            StopCommand.stop(cri, id, 0);
        }
        cri.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
    }
}
