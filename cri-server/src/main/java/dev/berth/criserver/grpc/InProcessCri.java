package dev.berth.criserver.grpc;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CRI served inside berth's own process, for the node agent when it runs in the daemon's
 * process: the same {@link CriRegistry} and the same interceptors (call logging, call limit,
 * the caller's metrics) as the socket's {@link CriServer}, reached through an in-process gRPC
 * channel instead of a UNIX socket. The agent so speaks exactly the CRI it would speak to any
 * runtime, and never calls the runtime's domain classes.
 */
public final class InProcessCri implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(InProcessCri.class);

    private final String name;
    private final Server server;
    private final ExecutorService executor;

    private InProcessCri(String name, Server server, ExecutorService executor) {
        this.name = name;
        this.server = server;
        this.executor = executor;
    }

    /**
     * Starts serving {@code registry} under the in-process name {@code name} (unique in the
     * JVM). Calls run on a pool of their own with the limits of {@code limits}, apart from the
     * socket's: external callers cannot starve the agent, nor the agent them.
     */
    public static InProcessCri start(String name, CriRegistry registry, CriServer.Limits limits, ServerInterceptor... interceptors) {
        List<ServerInterceptor> chain = CriServer.interceptorChain(limits, interceptors);
        ExecutorService executor = CallThreads.bounded(limits.threads(), CriServer.IDLE_THREAD_KEEP_ALIVE, "cri-local");
        InProcessServerBuilder builder = InProcessServerBuilder.forName(name)
                .executor(executor)
                .maxInboundMessageSize(limits.maxMessageSize())
                .maxInboundMetadataSize(limits.maxMetadataSize());
        for (io.grpc.ServerServiceDefinition service : registry.services()) {
            builder.addService(ServerInterceptors.intercept(service, chain));
        }
        Server server = builder.build();
        try {
            server.start();
        } catch (IOException e) {
            executor.shutdownNow();
            throw new IllegalStateException("cannot start the in-process CRI server " + name, e);
        }
        LOG.debug("serving the CRI in process as {}", name);
        return new InProcessCri(name, server, executor);
    }

    /** A new channel to this server; the caller closes it. */
    public ManagedChannel channel() {
        return InProcessChannelBuilder.forName(name).directExecutor().build();
    }

    /** Stops accepting calls and lets in-flight ones finish within {@code grace}. */
    public void shutdown(Duration grace) {
        server.shutdown();
        try {
            if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.shutdownNow();
        }
        executor.shutdownNow();
    }

    @Override
    public void close() {
        shutdown(Duration.ofSeconds(5));
    }
}
