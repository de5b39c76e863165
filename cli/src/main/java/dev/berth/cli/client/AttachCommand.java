package dev.berth.cli.client;

import dev.berth.cri.v1.AttachRequest;
import java.io.OutputStream;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth attach}: connects to a running container's own stdin, stdout and stderr. */
@Command(name = "attach", sortOptions = false,
        description = {"Attach to a running container: its output from now on, and stdin with -i (the container must have "
                + "been created with stdin).",
            "Runs through the runtime's streaming server (the Attach call's URL, v5/v4.channel.k8s.io over WebSocket). "
                + "-t must match the container's terminal setting; with -t the local terminal is in raw mode and its size follows.",
            "berth attach ends when the container exits, with the container's exit code; the codes below are berth's when it could not attach."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth attach web                 # follow its output",
            "  berth attach -it shell            # a container created with stdin and tty",
            "  echo 'quit' | berth attach -i repl"})
final class AttachCommand implements Callable<Integer> {
    @Mixin
    StreamOptions options;

    @Spec
    CommandSpec spec;

    @Option(names = {"-i", "--stdin"}, description = "send stdin to the container")
    boolean interactive;

    @Option(names = {"-t", "--tty"}, description = "the container has a terminal (its stderr is within stdout)")
    boolean tty;

    @Parameters(index = "0", paramLabel = "CONTAINER", description = "container ID, unique ID prefix or name")
    String container;

    @Override
    public Integer call() throws Exception {
        OutputStream out = ByteOutput.of(spec.commandLine().getOut());
        OutputStream err = ByteOutput.of(spec.commandLine().getErr());
        try (CriSession cri = options.connect()) {
            String id = Resolve.container(cri, container);
            String url = cri.runtime().attach(AttachRequest.newBuilder().setContainerId(id)
                    .setStdin(interactive).setTty(tty).setStdout(true).setStderr(!tty).build()).getUrl();
            return Attachments.run(url, interactive, tty, out, err, cri.endpoints().timeout());
        }
    }
}
