package dev.berth.streaming;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The SPDY upgrade handshake as the Kubernetes streaming servers answer it, and the resize message framing. */
class SpdyUpgradeTest {
    private static HttpHeaders upgrade(String... protocols) {
        HttpHeaders h = new DefaultHttpHeaders().set("Upgrade", "SPDY/3.1").set("Connection", "keep-alive, Upgrade");
        for (String p : protocols) {
            h.add(SpdyUpgrade.PROTOCOL_VERSION, p);
        }
        return h;
    }

    @Test
    void theClientsFirstProtocolThatTheServerSpeaksWins() {
        SpdyUpgrade.Result r = SpdyUpgrade.handshake(upgrade("v5.channel.k8s.io", "v2.channel.k8s.io",
                "v4.channel.k8s.io"), SpdyCommandSession.PROTOCOLS);
        assertEquals("v2.channel.k8s.io", r.protocol());
        assertNull(r.refusal());
        assertEquals("v3.channel.k8s.io", SpdyUpgrade.handshake(upgrade("x, v3.channel.k8s.io,v4.channel.k8s.io"),
                SpdyCommandSession.PROTOCOLS).protocol(), "comma-separated values count in order");
        var ok = SpdyUpgrade.switching("v4.channel.k8s.io");
        assertEquals(101, ok.status().code());
        assertEquals("SPDY/3.1", ok.headers().get("Upgrade"));
        assertEquals("Upgrade", ok.headers().get("Connection"));
        assertEquals("v4.channel.k8s.io", ok.headers().get(SpdyUpgrade.PROTOCOL_VERSION));
    }

    @Test
    void noProtocolInCommonIs403ListingTheServersProtocols() {
        SpdyUpgrade.Result r = SpdyUpgrade.handshake(upgrade("v5.channel.k8s.io"), SpdyPortForwardSession.PROTOCOLS);
        assertNull(r.protocol());
        assertEquals(403, r.refusal().status().code());
        assertEquals(List.of("portforward.k8s.io"), r.refusal().headers().getAll(SpdyUpgrade.ACCEPTED_VERSIONS));
        assertTrue(r.refusal().content().toString(java.nio.charset.StandardCharsets.UTF_8)
                .contains("unable to negotiate protocol"));
        r.refusal().release();
    }

    @Test
    void missingProtocolsOrUpgradeHeadersAre400() {
        assertEquals(400, SpdyUpgrade.handshake(upgrade(), SpdyCommandSession.PROTOCOLS).refusal().status().code());
        HttpHeaders noConnection = upgrade("v4.channel.k8s.io").remove("Connection");
        assertEquals(400, SpdyUpgrade.handshake(noConnection, SpdyCommandSession.PROTOCOLS).refusal().status().code());
        HttpHeaders spdy2 = upgrade("v4.channel.k8s.io").set("Upgrade", "SPDY/2");
        assertTrue(SpdyUpgrade.requested(spdy2));
        assertEquals(400, SpdyUpgrade.handshake(spdy2, SpdyCommandSession.PROTOCOLS).refusal().status().code());
    }

    @Test
    void resizeMessagesAreSplitWhereverTheFramesCutThem() {
        StringBuilder b = new StringBuilder("{\"Width\":80,\"Height\":24}\n{\"Width\":1");
        assertEquals(List.of("{\"Width\":80,\"Height\":24}"), SpdyCommandSession.completeObjects(b));
        assertEquals("{\"Width\":1", b.toString(), "the incomplete message waits for its rest");
        b.append("00,\"Height\":50}\n");
        assertEquals(List.of("{\"Width\":100,\"Height\":50}"), SpdyCommandSession.completeObjects(b));
        assertEquals("", b.toString());
        assertArrayEquals(new int[] {100, 50}, RemoteCommand.parseSize("{\"Width\":100,\"Height\":50}"));
    }
}
