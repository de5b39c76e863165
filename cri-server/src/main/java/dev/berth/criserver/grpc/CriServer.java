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
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
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
     * What one CRI server accepts. {@code maxConcurrentCalls} handlers run at once and
     * {@code maxQueuedCalls} more wait (at most {@code maxQueueWait}) for one to finish; calls
     * beyond are answered RESOURCE_EXHAUSTED. A connection has at most
     * {@code maxStreamsPerConnection} calls open; a message is at most {@code maxMessageSize}
     * bytes, a call's headers at most {@code maxMetadataSize}.
     */
    public record Limits(int maxMessageSize, int maxConcurrentCalls, int maxQueuedCalls, Duration maxQueueWait,
                         int maxStreamsPerConnection, int maxMetadataSize) {
        public static final int DEFAULT_CONCURRENT_CALLS = 64;
        public static final int DEFAULT_METADATA_SIZE = 8 * 1024;

        public Limits {
            if (maxMessageSize < 1 || maxConcurrentCalls < 1 || maxQueuedCalls < 0 || maxStreamsPerConnection < 1
                    || maxMetadataSize < 1 || maxQueueWait.isNegative()) {
                throw new IllegalArgumentException("invalid CRI server limits " + maxMessageSize + "/" + maxConcurrentCalls
                        + "/" + maxQueuedCalls + "/" + maxQueueWait + "/" + maxStreamsPerConnection + "/" + maxMetadataSize);
            }
        }

        /**
         * Limits derived from the two configured ones: as many calls may wait as run, for up to
         * a minute, and one connection may open all of them (the kubelet uses one connection).
         */
        public static Limits of(int maxMessageSize, int maxConcurrentCalls) {
            return new Limits(maxMessageSize, maxConcurrentCalls, maxConcurrentCalls, Duration.ofMinutes(1),
                    2 * maxConcurrentCalls, DEFAULT_METADATA_SIZE);
        }

        /** Threads of the call executor: those of running and waiting handlers, and a few that start and refuse calls. */
        int threads() {
            return maxConcurrentCalls + maxQueuedCalls + SPARE_THREADS;
        }
    }

    /** Threads beyond the handlers' that run gRPC's own per-call work (start, cancel, refuse) while every handler is busy. */
    static final int SPARE_THREADS = 4;

    /** How long a call thread stays idle before it ends (after a burst of calls). */
    static final Duration IDLE_THREAD_KEEP_ALIVE = Duration.ofSeconds(30);

    /** {@link #start(Path, CriRegistry, Limits, ServerInterceptor...)} with the default call limits. */
    public static CriServer start(Path socket, CriRegistry registry, int maxMessageSize, ServerInterceptor... interceptors) {
        return start(socket, registry, Limits.of(maxMessageSize, Limits.DEFAULT_CONCURRENT_CALLS), interceptors);
    }

    /**
     * Binds the socket (creating its directory; replacing a stale socket left by a dead
     * process; refusing one that a live process still serves), with mode 0660 from the start,
     * and starts serving. {@code interceptors} (e.g. metrics) wrap every call, the first one
     * outermost, around berth's own call logging and the call limit.
     */
    public static CriServer start(Path socket, CriRegistry registry, Limits limits, ServerInterceptor... interceptors) {
        prepareSocketPath(socket);
        EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, daemonThreads("cri-accept"), EpollIoHandler.newFactory());
        EventLoopGroup workers = new MultiThreadIoEventLoopGroup(2, daemonThreads("cri-io"), EpollIoHandler.newFactory());
        // a bounded pool: CallLimit keeps all but SPARE_THREADS of it for handlers, so a flood of
        // slow calls neither creates threads without end nor starves the refusal of new ones
        ExecutorService executor = CallThreads.bounded(limits.threads(), IDLE_THREAD_KEEP_ALIVE, "cri-call");
        List<ServerInterceptor> chain = interceptorChain(limits, interceptors);
        Path binding = socket.toAbsolutePath().resolveSibling(BIND_DIR).resolve(socket.getFileName());
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new DomainSocketAddress(binding.toString()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(boss)
                .workerEventLoopGroup(workers)
                .executor(executor)
                .maxInboundMessageSize(limits.maxMessageSize())
                .maxInboundMetadataSize(limits.maxMetadataSize())
                .maxConcurrentCallsPerConnection(limits.maxStreamsPerConnection());
        for (io.grpc.ServerServiceDefinition service : registry.services()) {
            builder.addService(ServerInterceptors.intercept(service, chain));
        }
        Server server = builder.build();
        try {
            // bound in a directory only root may enter, given its mode, then moved into place:
            // the socket is never reachable with the mode the umask gave it
            Files.createDirectory(binding.getParent(), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            server.start();
            Files.setPosixFilePermissions(binding, PosixFilePermissions.fromString("rw-rw----"));
            Files.move(binding, socket, StandardCopyOption.ATOMIC_MOVE);
            Files.delete(binding.getParent());
        } catch (IOException e) {
            server.shutdownNow();
            boss.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            executor.shutdownNow();
            removeBindDir(socket);
            throw BerthException.unavailable("cannot serve on %s: %s", socket, e.getMessage());
        }
        LOG.info("serving the CRI on unix://{}", socket);
        return new CriServer(socket, server, boss, workers, executor);
    }

    /**
     * The interceptors of every call, in the order {@code ServerInterceptors.intercept} wants
     * them (it runs the last of its list first): the caller's {@code interceptors}, the first
     * outermost, then berth's call logging, then the call limit innermost.
     */
    static List<ServerInterceptor> interceptorChain(Limits limits, ServerInterceptor... interceptors) {
        List<ServerInterceptor> chain = new ArrayList<>();
        chain.add(new CallLimit(limits.maxConcurrentCalls(), limits.maxQueuedCalls(), limits.maxQueueWait()));
        chain.add(new CallLogging());
        for (int i = interceptors.length - 1; i >= 0; i--) {
            chain.add(interceptors[i]);
        }
        return chain;
    }

    /** Where the socket is bound before it is moved to its name: beside it, private to root. */
    static final String BIND_DIR = ".berth-bind";

    private static void removeBindDir(Path socket) {
        Path dir = socket.toAbsolutePath().resolveSibling(BIND_DIR);
        try {
            Files.deleteIfExists(dir.resolve(socket.getFileName()));
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            LOG.warn("cannot remove {}: {}", dir, e.getMessage());
        }
    }

    /**
     * Makes sure berth may serve on {@code socket}: its directory exists and is writable, nothing
     * but a stale socket is in the way (and that is removed), no live process serves it. The
     * daemon calls this first of all, so a second daemon touches no state before it is refused.
     */
    public static void prepareSocketPath(Path socket) {
        Path dir = socket.toAbsolutePath().getParent();
        try {
            if (!Files.isDirectory(dir)) {
                // root's own, others may only pass through (to no socket they can open)
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx--x--x")));
            }
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot create the socket directory %s: %s", dir, describe(e));
        }
        if (!Files.isWritable(dir)) {
            throw BerthException.failedPrecondition("the socket directory %s is not writable", dir);
        }
        checkPrivate(dir);
        removeBindDir(socket);
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

    /**
     * Refuses a socket directory that another user could change: one writable by group or
     * others (even with the sticky bit, a squatter could take the socket's name) or owned by
     * another user. Such a user could move berth's socket away and serve the kubelet in its place.
     */
    static void checkPrivate(Path dir) {
        try {
            PosixFileAttributes a = Files.readAttributes(dir, PosixFileAttributes.class);
            Set<PosixFilePermission> p = a.permissions();
            if (p.contains(PosixFilePermission.OTHERS_WRITE) || p.contains(PosixFilePermission.GROUP_WRITE)) {
                throw BerthException.failedPrecondition("the socket directory %s is writable by other users (mode %s);"
                        + " put the socket in a directory only root can write, such as /run/berth", dir,
                        PosixFilePermissions.toString(p));
            }
            Object owner = Files.getAttribute(dir, "unix:uid");
            Object me = Files.getAttribute(Path.of("/proc/self"), "unix:uid");
            if (!owner.equals(me)) {
                throw BerthException.failedPrecondition("the socket directory %s belongs to uid %s, not to berth's uid %s",
                        dir, owner, me);
            }
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot check the socket directory %s: %s", dir, describe(e));
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

    static java.util.concurrent.ThreadFactory daemonThreads(String prefix) {
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
