package dev.berth.streaming;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Dials into berth's own network namespace (entered like a pod's): a port whose accept queue is
 * full never answers a SYN, so a dial to it takes the whole connect timeout.
 */
@Tag("root")
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class NetnsDialerTest {
    static final String NETNS = "/proc/self/ns/net";
    ServerSocket stalled;
    ServerSocket open;
    final List<Socket> filling = new ArrayList<>();
    NetnsDialer dialer;

    @BeforeEach
    void ports() throws IOException {
        InetAddress lo = InetAddress.getLoopbackAddress();
        stalled = new ServerSocket(0, 1, lo);
        // fill the accept queue (it is never accepted from): later SYNs are dropped
        for (int i = 0; i < 8; i++) {
            Socket s = new Socket();
            try {
                s.connect(new InetSocketAddress(lo, stalled.getLocalPort()), 200);
                filling.add(s);
            } catch (IOException full) {
                s.close();
                break;
            }
        }
        open = new ServerSocket(0, 50, lo);
    }

    @AfterEach
    void close() throws IOException {
        if (dialer != null) {
            dialer.close();
        }
        for (Socket s : filling) {
            s.close();
        }
        stalled.close();
        open.close();
    }

    @Test
    void aSlowDialDoesNotHoldUpAnother() throws Exception {
        dialer = new NetnsDialer();
        CompletableFuture<SocketChannel> slow = dialer.dial(NETNS, stalled.getLocalPort());
        CompletableFuture<SocketChannel> quick = dialer.dial(NETNS, open.getLocalPort());
        try (SocketChannel ch = quick.get(60, TimeUnit.SECONDS)) {
            assertTrue(ch.isConnected());
            assertFalse(slow.isDone(), "the quick dial was answered while the slow one still waits");
        }
        ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                () -> slow.get(60, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("cannot connect"), e.toString());
    }

    @Test
    void dialsBeyondTheBoundFailAtOnceAndClosingAnswersTheWaitingOnes() throws Exception {
        dialer = new NetnsDialer();
        List<CompletableFuture<SocketChannel>> slow = new ArrayList<>();
        for (int i = 0; i < NetnsDialer.DEFAULT_THREADS + NetnsDialer.DEFAULT_QUEUED; i++) {
            slow.add(dialer.dial(NETNS, stalled.getLocalPort()));
        }
        CompletableFuture<SocketChannel> refused = dialer.dial(NETNS, open.getLocalPort());
        assertTrue(refused.isCompletedExceptionally(), "the dial beyond the bound fails at once");
        ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class, refused::get);
        assertEquals(BerthException.Kind.RESOURCE_EXHAUSTED, ((BerthException) e.getCause()).kind(), e.toString());
        dialer.close();
        dialer = null;
        for (CompletableFuture<SocketChannel> f : slow) {
            org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class, () -> f.get(60, TimeUnit.SECONDS),
                    "every waiting dial is answered");
        }
    }
}
