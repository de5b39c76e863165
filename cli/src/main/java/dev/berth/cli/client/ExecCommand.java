package dev.berth.cli.client;

import dev.berth.cri.v1.ExecRequest;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import java.io.OutputStream;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth exec}: runs a command in a running container, through the streaming server (or ExecSync with -s). */
@Command(name = "exec", sortOptions = false,
        description = {"Run a command in a running container.",
            "The command runs through the runtime's streaming server (the Exec call's URL, a WebSocket of the Kubernetes "
                + "channel protocols v5/v4.channel.k8s.io), so it works against any CRI runtime; -s runs it with ExecSync instead.",
            "With -t the remote command gets a terminal: the local one is put in raw mode (restored on exit, Ctrl-C included) "
                + "and its size is sent at the start and on every resize.",
            "berth exec exits with the command's own exit code; the codes below are berth's when the command did not run.",
            "Options after CONTAINER belong to the command."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth exec web cat /etc/hostname",
            "  berth exec -it web sh                      # an interactive shell",
            "  berth exec web sh -c 'exit 7'; echo $?     # prints 7",
            "  echo hello | berth exec -i web cat",
            "  berth exec -s --timeout 5 web ls /         # ExecSync, at most 5 seconds"})
final class ExecCommand implements Callable<Integer> {
    @Mixin
    StreamOptions options;

    CommandSpec spec;

    /** Everything after CONTAINER is the command's, its options included ({@code sh -c ...}). */
    @Spec
    void spec(CommandSpec spec) {
        this.spec = spec;
        spec.parser().stopAtPositional(true);
    }

    @Option(names = {"-i", "--interactive"}, description = "send stdin to the command")
    boolean interactive;

    @Option(names = {"-t", "--tty"}, description = "give the command a terminal (stderr then arrives within stdout)")
    boolean tty;

    @Option(names = {"-s", "--sync"}, description = "run with ExecSync: output is printed when the command ended; no stdin, no terminal")
    boolean sync;

    @Parameters(index = "0", paramLabel = "CONTAINER", description = "container ID, unique ID prefix or name")
    String container;

    @Parameters(index = "1..*", arity = "1..*", paramLabel = "COMMAND", description = "the command and its arguments")
    List<String> command;

    @Override
    public Integer call() throws Exception {
        if (sync && (interactive || tty)) {
            throw ClientException.usage("-s runs the command with ExecSync, which has no stdin and no terminal: leave out -i and -t");
        }
        OutputStream out = ByteOutput.of(spec.commandLine().getOut());
        OutputStream err = ByteOutput.of(spec.commandLine().getErr());
        try (CriSession cri = options.connect()) {
            String id = Resolve.container(cri, container);
            if (sync) {
                long seconds = cri.endpoints().timeout().toSeconds();
                ExecSyncResponse r = cri.runtime(cri.endpoints().timeout().plusSeconds(5)).execSync(ExecSyncRequest.newBuilder()
                        .setContainerId(id).addAllCmd(command).setTimeout(seconds).build());
                r.getStdout().writeTo(out);
                r.getStderr().writeTo(err);
                out.flush();
                err.flush();
                return r.getExitCode();
            }
            String url = cri.runtime().exec(ExecRequest.newBuilder().setContainerId(id).addAllCmd(command)
                    .setStdin(interactive).setTty(tty).setStdout(true).setStderr(!tty).build()).getUrl();
            return Attachments.run(url, interactive, tty, out, err, cri.endpoints().timeout());
        }
    }
}
