package dev.berth.cli.client;

import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.RunPodSandboxRequest;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth runp}: RunPodSandbox from a PodSandboxConfig file. */
@Command(name = "runp", mixinStandardHelpOptions = true, description = {"Run a pod sandbox from a config file and print its ID.",
        "POD-CONFIG is a PodSandboxConfig as crictl takes it, JSON or YAML, field names in lowerCamelCase or snake_case; "
                + "unknown fields are ignored."},
        footerHeading = "%nExamples:%n",
        footer = {"  cat > pod.json <<'EOF'",
                "  {\"metadata\": {\"name\": \"web\", \"namespace\": \"default\", \"uid\": \"web-1\"}, \"log_directory\": \"/tmp/web\"}",
                "  EOF",
                "  berth runp pod.json",
                "  berth runp --runtime crun pod.yaml"})
final class RunpCommand implements Callable<Integer> {
    @Mixin
    ClientOptions options;
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "POD-CONFIG", description = "PodSandboxConfig file (JSON or YAML)")
    Path podConfig;

    @Option(names = "--runtime", paramLabel = "HANDLER", description = "the runtime handler (default: the runtime's default)")
    String runtime = "";

    @Override
    public Integer call() {
        PodSandboxConfig config = CriConfigs.podConfig(podConfig);
        try (CriSession cri = options.connect()) {
            spec.commandLine().getOut().println(runPod(cri, config, runtime));
        }
        return ExitCodes.OK;
    }

    static String runPod(CriSession cri, PodSandboxConfig config, String runtime) {
        return cri.runtime().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(config).setRuntimeHandler(runtime).build()).getPodSandboxId();
    }
}
