package dev.berth.agent.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.ByteString;
import dev.berth.agent.cri.CriClient;
import dev.berth.agent.testing.FakeCri;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.ProbeBuilder;
import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** exec probes through CRI ExecSync: exit codes, output, the probe's timeout, the runtime's timeout, errors, $(VAR). */
class ExecActionTest {
    FakeCri cri;
    Actions actions;
    final List<ExecSyncRequest> requests = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws Exception {
        cri = new FakeCri();
        actions = new Actions(new CriClient(cri.channel(), Duration.ofSeconds(5), Duration.ofSeconds(5)));
    }

    @AfterEach
    void stop() {
        cri.close();
    }

    private void answer(int exit, String stdout, String stderr) {
        cri.execHandler = r -> {
            requests.add(r);
            return ExecSyncResponse.newBuilder().setExitCode(exit).setStdout(ByteString.copyFromUtf8(stdout))
                    .setStderr(ByteString.copyFromUtf8(stderr)).build();
        };
    }

    private ProbeResult probe(Container c, int timeout, String... cmd) {
        Probe p = new ProbeBuilder().withNewExec().withCommand(cmd).endExec().withTimeoutSeconds(timeout).build();
        return actions.probe(p, c, "ctr-1", "10.0.0.1");
    }

    private static Container plain() {
        return new ContainerBuilder().withName("app").build();
    }

    @Test
    void exitZeroPassesAndOtherExitsFailWithTheOutput() {
        answer(0, "ok\n", "");
        assertEquals(ProbeResult.success("ok\n"), probe(plain(), 3, "cat", "/tmp/healthy"));
        ExecSyncRequest r = requests.get(0);
        assertEquals("ctr-1", r.getContainerId());
        assertEquals(List.of("cat", "/tmp/healthy"), r.getCmdList());
        assertEquals(3, r.getTimeout(), "the probe's timeout goes to the runtime");
        answer(1, "out ", "cat: /tmp/healthy: No such file");
        assertEquals(ProbeResult.failure("out cat: /tmp/healthy: No such file"), probe(plain(), 1, "cat", "/tmp/healthy"));
    }

    @Test
    void theOutputIsKeptToTenKibibytes() {
        answer(1, "x".repeat(8000), "y".repeat(8000));
        assertEquals(Actions.MAX_OUTPUT, probe(plain(), 1, "noisy").message().length());
    }

    @Test
    void aTimeoutOfTheRuntimeIsAFailedProbe() {
        cri.execHandler = r -> {
            throw Status.DEADLINE_EXCEEDED.withDescription("command timed out").asRuntimeException();
        };
        assertEquals(ProbeResult.failure("command \"sleep 10\" timed out"), probe(plain(), 1, "sleep", "10"));
    }

    @Test
    void aRuntimeErrorIsUnknown() {
        cri.execHandler = r -> {
            throw Status.NOT_FOUND.withDescription("container ctr-1 not found").asRuntimeException();
        };
        assertEquals(ProbeResult.Outcome.UNKNOWN, probe(plain(), 1, "true").outcome());
    }

    @Test
    void plainEnvValuesAreExpandedInTheCommand() {
        answer(0, "", "");
        Container c = new ContainerBuilder().withName("app").addNewEnv().withName("FILE").withValue("/ready").endEnv()
                .addNewEnv().withName("FROM").withNewValueFrom().withNewFieldRef().withFieldPath("metadata.name").endFieldRef()
                .endValueFrom().endEnv().build();
        probe(c, 1, "test", "-f", "$(FILE)", "$(FROM)", "$$(FILE)");
        assertEquals(List.of("test", "-f", "/ready", "$(FROM)", "$(FILE)"), requests.get(0).getCmdList());
    }
}
