package dev.berth.agent.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.ProbeBuilder;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

/** tcpSocket probes: a listening port passes, a closed one fails, a named port is looked up. */
class TcpSocketActionTest {
    private static ProbeResult probe(IntOrString port) {
        Probe p = new ProbeBuilder().withNewTcpSocket().withPort(port).endTcpSocket().withTimeoutSeconds(1).build();
        return new Actions(null).probe(p, new ContainerBuilder().withName("db").addNewPort().withName("sql")
                .withContainerPort(port.getIntVal() == null ? 1 : port.getIntVal()).endPort().build(), "c1", "127.0.0.1");
    }

    @Test
    void aListeningPortPassesAndAClosedOneFails() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
            assertEquals(ProbeResult.success(""), probe(new IntOrString(port)));
        }
        assertEquals(ProbeResult.failure("dial tcp 127.0.0.1:" + port + ": connect: connection refused"), probe(new IntOrString(port)));
    }

    @Test
    void aNamedPortIsLookedUp() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
            Probe p = new ProbeBuilder().withNewTcpSocket().withPort(new IntOrString("sql")).endTcpSocket().build();
            ProbeResult r = new Actions(null).probe(p, new ContainerBuilder().withName("db").addNewPort().withName("sql")
                    .withContainerPort(s.getLocalPort()).endPort().build(), "c1", "127.0.0.1");
            assertEquals(ProbeResult.success(""), r);
        }
    }
}
