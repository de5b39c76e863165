package dev.berth.streaming;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The test's client of the channel WebSocket protocols: every binary message is a channel byte
 * and data. Collects what arrives per channel (and each channel's messages) until the server
 * closes.
 */
public final class ChannelClient implements WebSocket.Listener {
    /** One client for every session: its selector and descriptors are not counted as a session's. */
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    public final Map<Integer, ByteArrayOutputStream> received = new ConcurrentHashMap<>();
    public final Map<Integer, List<byte[]>> messages = new ConcurrentHashMap<>();
    public final CompletableFuture<Integer> closed = new CompletableFuture<>();
    private final ByteArrayOutputStream partial = new ByteArrayOutputStream();
    private final Object lock = new Object();
    public WebSocket socket;
    public String protocol;

    /** Connects; returns the HTTP status when the upgrade is refused. */
    public static Object connect(String url, String... protocols) {
        return connect(HTTP, url, protocols);
    }

    /** As {@link #connect(String, String...)}, through {@code http} (e.g. one that trusts a test CA). */
    public static Object connect(HttpClient http, String url, String... protocols) {
        ChannelClient c = new ChannelClient();
        WebSocket.Builder b = http.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(10));
        if (protocols.length > 0) {
            b.subprotocols(protocols[0], java.util.Arrays.copyOfRange(protocols, 1, protocols.length));
        }
        try {
            c.socket = b.buildAsync(URI.create(url.replace("http://", "ws://").replace("https://", "wss://")), c).join();
            c.protocol = c.socket.getSubprotocol();
            return c;
        } catch (CompletionException e) {
            if (e.getCause() instanceof WebSocketHandshakeException h) {
                return h.getResponse().statusCode();
            }
            throw e;
        }
    }

    public static ChannelClient open(String url, String... protocols) {
        Object r = connect(url, protocols);
        if (r instanceof ChannelClient c) {
            return c;
        }
        throw new AssertionError("upgrade refused with HTTP " + r);
    }

    public void send(int channel, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(data.length + 1).put((byte) channel).put(data).flip();
        socket.sendBinary(b, true).join();
    }

    public byte[] channel(int ch) {
        synchronized (lock) {
            ByteArrayOutputStream o = received.get(ch);
            return o == null ? new byte[0] : o.toByteArray();
        }
    }

    private int size(int ch) {
        ByteArrayOutputStream o = received.get(ch);
        return o == null ? 0 : o.size();
    }

    public String text(int ch) {
        return new String(channel(ch), StandardCharsets.UTF_8);
    }

    /** Waits until {@code n} bytes arrived on channel {@code ch} (or the socket closed). */
    public byte[] awaitBytes(int ch, int n) throws InterruptedException {
        synchronized (lock) {
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (size(ch) < n && !closed.isDone() && System.nanoTime() < end) {
                lock.wait(100);
            }
            return channel(ch);
        }
    }

    /** Waits until the text on channel {@code ch} contains {@code part} (or the socket closed); returns the text. */
    public String awaitText(int ch, String part) throws InterruptedException {
        synchronized (lock) {
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!text(ch).contains(part) && !closed.isDone() && System.nanoTime() < end) {
                lock.wait(100);
            }
            return text(ch);
        }
    }

    /** Waits up to {@code ms} for more than {@code known} bytes on channel {@code ch}. */
    public void awaitMore(int ch, int known, long ms) throws InterruptedException {
        synchronized (lock) {
            long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
            while (size(ch) <= known && !closed.isDone() && System.nanoTime() < end) {
                lock.wait(50);
            }
        }
    }

    public void sendText(int channel, String text) {
        send(channel, text.getBytes(StandardCharsets.UTF_8));
    }

    public int awaitClose() {
        return closed.orTimeout(60, TimeUnit.SECONDS).join();
    }

    @Override
    public void onOpen(WebSocket webSocket) {
        webSocket.request(Long.MAX_VALUE);
    }

    @Override
    public CompletableFuture<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
        synchronized (lock) {
            byte[] b = new byte[data.remaining()];
            data.get(b);
            partial.write(b, 0, b.length);
            if (last) {
                byte[] msg = partial.toByteArray();
                partial.reset();
                if (msg.length > 0) {
                    int ch = msg[0] & 0xff;
                    received.computeIfAbsent(ch, k -> new ByteArrayOutputStream()).write(msg, 1, msg.length - 1);
                    messages.computeIfAbsent(ch, k -> new ArrayList<>())
                            .add(java.util.Arrays.copyOfRange(msg, 1, msg.length));
                }
                lock.notifyAll();
            }
        }
        return null;
    }

    @Override
    public CompletableFuture<?> onClose(WebSocket webSocket, int statusCode, String reason) {
        synchronized (lock) {
            closed.complete(statusCode);
            lock.notifyAll();
        }
        return null;
    }

    @Override
    public void onError(WebSocket webSocket, Throwable error) {
        synchronized (lock) {
            closed.complete(-1);
            lock.notifyAll();
        }
    }
}
