package dev.berth.criserver.grpc;

import dev.berth.common.BerthException;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The CRI gRPC server on a UNIX domain socket. */
public final class CriServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CriServer.class);

    private final Path socket;
    private final Server server;
    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final ExecutorService executor;

    private CriServer(Path socket, Server server, EventLoopGroup boss, EventLoopGroup workers, ExecutorService executor) {
        this.socket = socket;
        this.server = server;
        this.boss = boss;
        this.workers = workers;
        this.executor = executor;
    }

    /**
     * Binds the socket (creating its directory; replacing a stale socket left by a dead
     * process; refusing one that a live process still serves), sets its mode to 0660 and
     * starts serving. {@code interceptors} (e.g. metrics) wrap every call, the first one
     * outermost, around berth's own call logging.
     */
    public static CriServer start(Path socket, CriRegistry registry, int maxMessageSize, ServerInterceptor... interceptors) {
        prepareSocketPath(socket);
        EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, daemonThreads("cri-accept"), EpollIoHandler.newFactory());
        EventLoopGroup workers = new MultiThreadIoEventLoopGroup(2, daemonThreads("cri-io"), EpollIoHandler.newFactory());
        ExecutorService executor = Executors.newCachedThreadPool(daemonThreads("cri-call"));
        // ServerInterceptors.intercept runs the last interceptor of its list first
        List<ServerInterceptor> chain = new ArrayList<>();
        chain.add(new CallLogging());
        for (int i = interceptors.length - 1; i >= 0; i--) {
            chain.add(interceptors[i]);
        }
        Server server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(boss)
                .workerEventLoopGroup(workers)
                .executor(executor)
                .maxInboundMessageSize(maxMessageSize)
                .addService(ServerInterceptors.intercept(registry.runtimeService(), chain))
                .addService(ServerInterceptors.intercept(registry.imageService(), chain))
                .build();
        try {
            server.start();
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-rw----"));
        } catch (IOException e) {
            server.shutdownNow();
            boss.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            executor.shutdownNow();
            throw BerthException.unavailable("cannot serve on %s: %s", socket, e.getMessage());
        }
        LOG.info("serving the CRI on unix://{}", socket);
        return new CriServer(socket, server, boss, workers, executor);
    }

    /**
     * Makes sure berth may serve on {@code socket}: its directory exists and is writable, nothing
     * but a stale socket is in the way (and that is removed), no live process serves it. The
     * daemon calls this first of all, so a second daemon touches no state before it is refused.
     */
    public static void prepareSocketPath(Path socket) {
        Path dir = socket.toAbsolutePath().getParent();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot create the socket directory %s: %s", dir, describe(e));
        }
        if (!Files.isWritable(dir)) {
            throw BerthException.failedPrecondition("the socket directory %s is not writable", dir);
        }
        if (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (Files.isDirectory(socket, LinkOption.NOFOLLOW_LINKS) || Files.isRegularFile(socket, LinkOption.NOFOLLOW_LINKS)) {
            throw BerthException.failedPrecondition("%s exists and is not a socket; refusing to replace it", socket);
        }
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            throw BerthException.alreadyExists("another process is serving %s; is berth already running?", socket);
        } catch (IOException stale) {
            try {
                Files.delete(socket);
                LOG.info("removed stale socket {} left by a process that is gone", socket);
            } catch (IOException e) {
                throw BerthException.failedPrecondition("cannot remove the stale socket %s: %s", socket, describe(e));
            }
        }
    }

    private static String describe(IOException e) {
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof java.nio.file.NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof java.nio.file.FileAlreadyExistsException) {
            return "a file that is not a directory is in the way";
        }
        if (e instanceof java.nio.file.FileSystemException fse && fse.getReason() != null) {
            return fse.getReason();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    private static java.util.concurrent.ThreadFactory daemonThreads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    public Path socket() {
        return socket;
    }

    /** Stops accepting calls, lets in-flight calls finish within {@code grace}, then removes the socket. */
    public void shutdown(Duration grace) {
        server.shutdown();
        try {
            if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                LOG.warn("in-flight CRI calls did not finish within {}; cancelling them", grace);
                server.shutdownNow();
                server.awaitTermination(2, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.shutdownNow();
        }
        executor.shutdownNow();
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            LOG.warn("cannot remove socket {}: {}", socket, e.getMessage());
        }
    }

    @Override
    public void close() {
        shutdown(Duration.ofSeconds(5));
    }
}
