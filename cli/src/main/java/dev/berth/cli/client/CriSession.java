package dev.berth.cli.client;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import dev.berth.cli.logging.Logging;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The client's connection to a CRI runtime and image service: one gRPC channel per distinct
 * endpoint, blocking and async stubs whose calls carry the session's timeout as a deadline.
 * With {@code debug} each call's method, request and response are printed on stderr.
 */
public final class CriSession implements AutoCloseable {
    /** The largest message the client accepts (a ListContainers of thousands, a large ContainerStatus verbose info). */
    static final int MAX_MESSAGE_BYTES = 16 << 20;

    private final Endpoints endpoints;
    private final ManagedChannel runtimeChannel;
    private final ManagedChannel imageChannel;
    private final Channel runtime;
    private final Channel image;
    /**
     * The session's own event loop, ended at {@link #close()}: at exit the JVM waits up to 300 ms
     * for threads in native code, and an idle event loop sits in epoll_wait (a quarter of a
     * short client call went there).
     */
    private final EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("berth-client", true),
            EpollIoHandler.newFactory());

    private CriSession(Endpoints endpoints) {
        this.endpoints = endpoints;
        this.runtimeChannel = channel(endpoints.runtime(), loop);
        this.imageChannel = endpoints.image().equals(endpoints.runtime()) ? runtimeChannel : channel(endpoints.image(), loop);
        ClientInterceptor[] interceptors = endpoints.debug() ? new ClientInterceptor[] {new DebugInterceptor(System.err)} : new ClientInterceptor[0];
        this.runtime = ClientInterceptors.intercept(runtimeChannel, interceptors);
        this.image = ClientInterceptors.intercept(imageChannel, interceptors);
    }

    /**
     * Connects lazily (the first call connects). A missing runtime socket is reported at once with
     * {@link ExitCodes#UNREACHABLE}; a missing image socket only by the first image call, so that
     * {@code berth ps -r ...} works beside a client config whose image endpoint is elsewhere.
     */
    public static CriSession open(Endpoints endpoints) {
        quietLibraries();
        requireSocket(endpoints.runtime());
        return new CriSession(endpoints);
    }

    private static void requireSocket(String endpoint) {
        if (!Files.exists(Endpoints.socketPath(endpoint))) {
            throw new ClientException(ExitCodes.UNREACHABLE, "cannot reach the runtime at " + endpoint + ": no such socket (is the runtime running?)");
        }
    }

    /** A channel to a {@code unix:///PATH} endpoint (grpc-netty's UNIX-socket resolver over epoll). */
    public static ManagedChannel channel(String endpoint) {
        if (!endpoint.matches("unix:///.+")) {
            throw ClientException.usage("the endpoint must be unix:///PATH, got \"" + endpoint + "\"");
        }
        return Grpc.newChannelBuilder(endpoint, InsecureChannelCredentials.create()).maxInboundMessageSize(MAX_MESSAGE_BYTES).build();
    }

    private static ManagedChannel channel(String endpoint, EventLoopGroup loop) {
        return NettyChannelBuilder.forAddress(new DomainSocketAddress(Endpoints.socketPath(endpoint).toString()))
                .eventLoopGroup(loop).channelType(EpollDomainSocketChannel.class).usePlaintext()
                .maxInboundMessageSize(MAX_MESSAGE_BYTES).build();
    }

    /** Library logging at warn, and Netty's per-channel SO_KEEPALIVE warning (a UNIX socket has none) silenced. */
    public static void quietLibraries() {
        Logging.configure("warn", "text");
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.netty.bootstrap")).setLevel(ch.qos.logback.classic.Level.ERROR);
    }

    public Endpoints endpoints() {
        return endpoints;
    }

    /** RuntimeService with the session's timeout. */
    public RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime() {
        return runtime(endpoints.timeout());
    }

    /** RuntimeService with this timeout; null for none (a call that may wait for as long as the user likes). */
    public RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime(Duration timeout) {
        RuntimeServiceGrpc.RuntimeServiceBlockingStub s = RuntimeServiceGrpc.newBlockingStub(runtime);
        return timeout == null ? s : s.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** RuntimeService for streaming calls (GetContainerEvents); no deadline. */
    public RuntimeServiceGrpc.RuntimeServiceStub runtimeAsync() {
        return RuntimeServiceGrpc.newStub(runtime);
    }

    /** ImageService with the session's timeout. */
    public ImageServiceGrpc.ImageServiceBlockingStub images() {
        return images(endpoints.timeout());
    }

    /** ImageService with this timeout; null for none. */
    public ImageServiceGrpc.ImageServiceBlockingStub images(Duration timeout) {
        requireSocket(endpoints.image());
        ImageServiceGrpc.ImageServiceBlockingStub s = ImageServiceGrpc.newBlockingStub(image);
        return timeout == null ? s : s.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The runtime endpoint's channel, for services beside the CRI on the same socket. */
    public Channel runtimeChannel() {
        return runtime;
    }

    /** The image endpoint's channel, for services beside the CRI on the same socket. */
    public Channel imageChannel() {
        requireSocket(endpoints.image());
        return image;
    }

    @Override
    public void close() {
        runtimeChannel.shutdownNow();
        if (imageChannel != runtimeChannel) {
            imageChannel.shutdownNow();
        }
        try {
            runtimeChannel.awaitTermination(1, TimeUnit.SECONDS);
            imageChannel.awaitTermination(1, TimeUnit.SECONDS);
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(1, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Prints each call's method, request, response and status. */
    static final class DebugInterceptor implements ClientInterceptor {
        private final PrintStream out;

        DebugInterceptor(PrintStream out) {
            this.out = out;
        }

        @Override
        public <Q, A> ClientCall<Q, A> interceptCall(MethodDescriptor<Q, A> method, CallOptions options, Channel next) {
            String name = method.getFullMethodName();
            return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
                @Override
                public void start(Listener<A> listener, Metadata headers) {
                    super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
                        @Override
                        public void onMessage(A message) {
                            out.println("DEBU response " + name + ": " + json(message));
                            super.onMessage(message);
                        }

                        @Override
                        public void onClose(Status status, Metadata trailers) {
                            if (!status.isOk()) {
                                out.println("DEBU status " + name + ": " + status.getCode() + " " + status.getDescription());
                            }
                            super.onClose(status, trailers);
                        }
                    }, headers);
                }

                @Override
                public void sendMessage(Q message) {
                    out.println("DEBU request " + name + ": " + json(message));
                    super.sendMessage(message);
                }
            };
        }

        private static String json(Object message) {
            if (message instanceof MessageOrBuilder m) {
                try {
                    return JsonFormat.printer().omittingInsignificantWhitespace().print(m);
                } catch (InvalidProtocolBufferException e) {
                    return m.toString();
                }
            }
            return String.valueOf(message);
        }
    }
}
