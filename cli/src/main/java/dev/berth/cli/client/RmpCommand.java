package dev.berth.cli.client;

import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth rmp}: RemovePodSandbox; a ready pod only with --force. */
@Command(name = "rmp", mixinStandardHelpOptions = true, description = {"Remove pod sandboxes and their containers; prints \"Removed sandbox ID\" for each, as crictl does.",
        "A pod that is still ready is refused unless --force is given, which stops it first."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth rmp 9a8b7c6d5e4f", "  berth rmp -f web", "  berth rmp -a -f    # every pod"})
final class RmpCommand implements Callable<Integer> {
    @Mixin
    ClientOptions options;
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "POD", arity = "0..*", description = "pods to remove")
    List<String> pods = new ArrayList<>();

    @Option(names = {"-f", "--force"}, description = "stop ready pods first")
    boolean force;

    @Option(names = {"-a", "--all"}, description = "remove every pod (ready ones only with --force)")
    boolean all;

    @Override
    public Integer call() {
        if (pods.isEmpty() == !all) {
            throw ClientException.usage(all ? "give pods or --all, not both" : "name at least one pod, or give --all");
        }
        try (CriSession cri = options.connect()) {
            List<String> names = pods;
            if (all) {
                names = new ArrayList<>();
                for (PodSandbox p : cri.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                    if (force || p.getState() != PodSandboxState.SANDBOX_READY) {
                        names.add(p.getId());
                    }
                }
            }
            return Each.run(spec, names, what -> {
                // --all listed IDs already: resolving each would list everything again per object
                String id = all ? what : Resolve.pod(cri, what);
                remove(cri, id, force);
                return "Removed sandbox " + id;
            });
        }
    }

    static void remove(CriSession cri, String id, boolean force) {
        PodSandboxState state = cri.runtime().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(id).build())
                .getStatus().getState();
        if (state == PodSandboxState.SANDBOX_READY) {
            if (!force) {
                throw new ClientException(ExitCodes.FAILED, "pod " + id + " is ready; stop it first (berth stopp), or use --force");
            }
            StoppCommand.stop(cri, id);
        }
        cri.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
    }
}
