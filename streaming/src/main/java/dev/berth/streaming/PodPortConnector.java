package dev.berth.streaming;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.io.IOException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.BiConsumer;

/**
 * Opens one forwarded connection: a TCP connection to the loopback's port inside a pod's
 * network namespace, or the host's for a host-network pod (through {@link NetnsDialer}), then served by an event loop with the caller's
 * handler like any other Netty channel. Shared by the WebSocket and SPDY port-forward sessions.
 */
final class PodPortConnector {
    private PodPortConnector() {
    }

    /**
     * Connects to {@code port} in the pod's network namespace (the host's for a host-network
     * pod) and registers the socket on
     * {@code loop} with {@code handler} in its pipeline. {@code done} runs on {@code loop}, once:
     * with the active channel, or with null and a message saying why there is none.
     */
    static void connect(NetnsDialer dialer, StreamRequest.PortForward request, int port, EventLoop loop,
            ChannelHandler handler, BiConsumer<Channel, String> done) {
        dialer.dial(request.hostNetwork() ? null : request.netnsPath(), port).whenComplete((sc, t) -> {
            try {
                if (t != null) {
                    loop.execute(() -> done.accept(null, message(t)));
                    return;
                }
                loop.execute(() -> {
                    NioSocketChannel b = new NioSocketChannel(sc);
                    b.pipeline().addLast(handler);
                    loop.register(b).addListener(f -> {
                        if (!f.isSuccess()) {
                            b.close();
                            done.accept(null, "cannot serve the connection to port " + port + ": " + f.cause());
                        } else {
                            done.accept(b, null);
                        }
                    });
                });
            } catch (RejectedExecutionException e) {
                // the server is shutting down: nobody is left to tell
                if (sc != null) {
                    try {
                        sc.close();
                    } catch (IOException ignored) {
                        // never served
                    }
                }
            }
        });
    }

    /** The message of a dial failure, without the wrapping of the future that carried it. */
    static String message(Throwable t) {
        Throwable c = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
        return String.valueOf(c.getMessage());
    }
}
