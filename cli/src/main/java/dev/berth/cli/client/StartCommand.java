package dev.berth.cli.client;

import dev.berth.cri.v1.StartContainerRequest;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth start}: StartContainer. */
@Command(name = "start", mixinStandardHelpOptions = true, description = {"Start created containers; prints each one's ID.",
        "CONTAINER is an ID, a unique ID prefix or a container name."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth start 1f2e3d4c5b6a", "  berth start $(berth create $pod container.json pod.json)"})
final class StartCommand implements Callable<Integer> {
    @Mixin
    ClientOptions options;
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "CONTAINER", arity = "1..*", description = "containers to start")
    List<String> containers;

    @Override
    public Integer call() {
        try (CriSession cri = options.connect()) {
            return Each.run(spec, containers, what -> {
                String id = Resolve.container(cri, what);
                cri.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
                return id;
            });
        }
    }
}
