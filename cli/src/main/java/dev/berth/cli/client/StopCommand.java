package dev.berth.cli.client;

import dev.berth.cri.v1.StopContainerRequest;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth stop}: StopContainer; {@code -t} is the grace period, as crictl's. */
@Command(name = "stop", mixinStandardHelpOptions = true, description = {"Stop running containers; prints each one's ID.",
        "Here -t/--timeout SECONDS is the grace period, as in crictl stop: how long the container has after SIGTERM before "
                + "it is killed (default 0: at once). Each call may take that long plus 10 seconds."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth stop 1f2e3d4c5b6a", "  berth stop -t 30 web-server"})
final class StopCommand implements Callable<Integer> {
    @Mixin
    ClientOptions options;
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "CONTAINER", arity = "1..*", description = "containers to stop")
    List<String> containers;

    @Override
    public Integer call() {
        long grace = graceSeconds(options);
        try (CriSession cri = options.connect()) {
            return Each.run(spec, containers, what -> {
                String id = Resolve.container(cri, what);
                stop(cri, id, grace);
                return id;
            });
        }
    }

    /** Takes -t as the grace period (0 when absent) and leaves the calls their default timeout. */
    static long graceSeconds(ClientOptions options) {
        Long t = options.timeoutSeconds;
        if (t != null && t < 0) {
            throw ClientException.usage("-t must be 0 or more seconds");
        }
        options.timeoutSeconds = null;
        return t == null ? 0 : t;
    }

    static void stop(CriSession cri, String id, long grace) {
        cri.runtime(cri.endpoints().timeout().plusSeconds(grace)).stopContainer(
                StopContainerRequest.newBuilder().setContainerId(id).setTimeout(grace).build());
    }

}
