package dev.berth.cli.metrics;

import dev.berth.common.BerthException;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.compression.StandardCompressionOptions;
import io.netty.handler.codec.http.HttpContentCompressor;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.ReadTimeoutHandler;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP server of {@code /metrics} and {@code /healthz}. Two threads in all: one event loop
 * for the sockets and one that renders the answers, so scrapes are served one at a time, never
 * on a CRI thread, and a slow or hung client never holds a thread. At most {@value #MAX_CONNECTIONS} connections are
 * open at once; a connection that sends nothing for {@value #IDLE_SECONDS} s is closed.
 */
public final class MetricsServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(MetricsServer.class);
    static final int MAX_CONNECTIONS = 64;
    static final int IDLE_SECONDS = 30;
    /** Requests waiting for the renderer; past that a request is answered 503 at once. */
    static final int MAX_QUEUED = 128;

    private final EventLoopGroup loop;
    private final ExecutorService renderer;
    private final Channel channel;
    private final InetSocketAddress address;

    private MetricsServer(EventLoopGroup loop, ExecutorService renderer, Channel channel) {
        this.loop = loop;
        this.renderer = renderer;
        this.channel = channel;
        this.address = (InetSocketAddress) channel.localAddress();
    }

    /**
     * Binds {@code host:port} and starts serving.
     *
     * @throws BerthException (unavailable) naming the address when it cannot be bound, e.g.
     *     because another process listens there
     */
    public static MetricsServer start(String host, int port, BerthMetrics metrics, Health health) {
        InetSocketAddress bind = host.isEmpty() ? new InetSocketAddress(port) : new InetSocketAddress(host, port);
        String shown = display(host, port);
        if (bind.isUnresolved()) {
            throw BerthException.unavailable("cannot serve metrics on %s: cannot resolve %s (config key metrics.address)", shown, host);
        }
        EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, daemonThreads("metrics-io"), NioIoHandler.newFactory());
        ThreadPoolExecutor renderer = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(MAX_QUEUED), daemonThreads("metrics-http"));
        MetricsHttpHandler handler = new MetricsHttpHandler(metrics, health, renderer);
        ConnectionLimit limit = new ConnectionLimit(MAX_CONNECTIONS);
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(loop)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, 64)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ChannelPipeline p = ch.pipeline();
                        p.addLast(limit);
                        p.addLast(new ReadTimeoutHandler(IDLE_SECONDS, TimeUnit.SECONDS));
                        p.addLast(new HttpServerCodec(4096, 8192, 8192));
                        p.addLast(new HttpContentCompressor(1024, StandardCompressionOptions.gzip(), StandardCompressionOptions.deflate()));
                        p.addLast(new HttpObjectAggregator(8192));
                        p.addLast(handler);
                    }
                });
        Channel channel;
        try {
            channel = bootstrap.bind(bind).syncUninterruptibly().channel();
        } catch (Exception e) {
            loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            renderer.shutdownNow();
            String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            throw BerthException.unavailable("cannot serve metrics on %s: %s (config key metrics.address)", shown, why);
        }
        MetricsServer server = new MetricsServer(loop, renderer, channel);
        LOG.info("serving metrics on http://{}/metrics and health on /healthz", display(server.address));
        return server;
    }

    static String display(String host, int port) {
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }

    static String display(InetSocketAddress a) {
        return display(a.getAddress().getHostAddress(), a.getPort());
    }

    /** The address actually bound (the port is the chosen one when 0 was asked for). */
    public InetSocketAddress address() {
        return address;
    }

    /** Closes the listening socket and every connection; waits at most {@code grace} for in-flight answers. */
    public void shutdown(Duration grace) {
        channel.close().awaitUninterruptibly(grace.toMillis());
        renderer.shutdown();
        try {
            if (!renderer.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                renderer.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            renderer.shutdownNow();
        }
        loop.shutdownGracefully(0, grace.toMillis(), TimeUnit.MILLISECONDS).awaitUninterruptibly(grace.toMillis());
    }

    @Override
    public void close() {
        shutdown(Duration.ofSeconds(2));
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    /** Closes connections beyond the limit as soon as they are accepted. */
    @ChannelHandler.Sharable
    static final class ConnectionLimit extends ChannelInboundHandlerAdapter {
        private final int max;
        private final AtomicInteger open = new AtomicInteger();

        ConnectionLimit(int max) {
            this.max = max;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) throws Exception {
            if (open.incrementAndGet() > max) {
                LOG.warn("metrics: more than {} connections open; closing one from {}", max, ctx.channel().remoteAddress());
                ctx.close();
                return;
            }
            super.channelActive(ctx);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) throws Exception {
            open.decrementAndGet();
            super.channelInactive(ctx);
        }
    }
}
