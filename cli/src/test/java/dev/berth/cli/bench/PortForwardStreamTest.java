package dev.berth.cli.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PortForwardStreamTest {
    @Test
    void theUrlGetsThePortAsTheQueryParameterBothServersRead() {
        assertEquals("ws://127.0.0.1:10010/portforward/abc?port=7777",
                PortForwardStream.uri("http://127.0.0.1:10010/portforward/abc", 7777).toString());
        assertEquals("ws://[::1]:1/pf/x?a=b&port=80", PortForwardStream.uri("http://[::1]:1/pf/x?a=b", 80).toString());
    }

    @Test
    void aListeningSocketIsFoundInProcNetTcpAndTcp6() {
        String tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
                + "   0: 0100007F:1E62 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n"
                + "   1: 0100007F:1E61 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n";
        String tcp6 = "   0: 00000000000000000000000000000000:1E61 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 0 0 0 3\n";
        // 7778 listens, 7777 only has an established connection
        assertFalse(Scenario.listens(tcp, ":1E61 "));
        assertTrue(Scenario.listens(tcp, ":1E62 "));
        assertTrue(Scenario.listens(tcp + tcp6, ":1E61 "));
        assertEquals(":1E61 ", String.format(":%04X ", Scenario.ECHO_PORT));
    }
}
