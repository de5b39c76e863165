package dev.berth.cli.client;

import dev.berth.cri.v1.StopPodSandboxRequest;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth stopp}: StopPodSandbox. */
@Command(name = "stopp", mixinStandardHelpOptions = true, description = {"Stop pod sandboxes and their containers; prints \"Stopped sandbox ID\" for each, as crictl does.",
        "POD is a pod ID, a unique ID prefix or a pod name."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth stopp 9a8b7c6d5e4f", "  berth stopp web"})
final class StoppCommand implements Callable<Integer> {
    @Mixin
    ClientOptions options;
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "POD", arity = "1..*", description = "pods to stop")
    List<String> pods;

    @Override
    public Integer call() {
        try (CriSession cri = options.connect()) {
            return Each.run(spec, pods, what -> {
                String id = Resolve.pod(cri, what);
                stop(cri, id);
                return "Stopped sandbox " + id;
            });
        }
    }

    static void stop(CriSession cri, String id) {
        cri.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
    }
}
