package dev.berth.cli.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.util.ContextInitializer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;

class BenchCommandTest {
    private final LoggerContext ctx = (LoggerContext) LoggerFactory.getILoggerFactory();

    @AfterEach
    void restoreTestLogging() throws Exception {
        ctx.reset();
        new ContextInitializer(ctx).autoConfig();
    }

    @Test
    void benchSetsLibrariesToWarnSoNoGrpcDebugLinesReachTheTerminal() {
        // what logback does without a configuration file, as in berth.jar: everything at debug
        ctx.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME).setLevel(Level.DEBUG);
        assertTrue(LoggerFactory.getLogger("io.grpc.netty.NettyClientHandler").isDebugEnabled());

        StringWriter err = new StringWriter();
        int exit = new CommandLine(new BenchCommand()).setErr(new PrintWriter(err))
                .execute("--runtime-endpoint", "unix:///nonexistent.sock", "--pid-mode", "neither");

        assertNotEquals(0, exit, err.toString());
        for (String library : new String[] {"io.grpc.netty.shaded.io.grpc.netty.NettyClientHandler", "io.grpc.netty.NettyClientHandler",
            "io.netty.channel.DefaultChannelPipeline", "io.grpc.internal.ManagedChannelImpl"}) {
            assertFalse(LoggerFactory.getLogger(library).isInfoEnabled(), library);
            assertTrue(LoggerFactory.getLogger(library).isWarnEnabled(), library);
        }
        // "Unknown channel option 'SO_KEEPALIVE'" for each channel to a UNIX socket
        assertFalse(LoggerFactory.getLogger("io.netty.bootstrap.Bootstrap").isWarnEnabled());
        assertTrue(LoggerFactory.getLogger("io.netty.bootstrap.Bootstrap").isErrorEnabled());
        // and on the bench's fake runtime's accepted channels
        assertFalse(LoggerFactory.getLogger("io.netty.bootstrap.ServerBootstrap").isWarnEnabled());
        assertTrue(LoggerFactory.getLogger("io.netty.bootstrap.ServerBootstrap").isErrorEnabled());
    }

    @Test
    void orderBaRunsTheComparedRuntimeFirst() {
        assertEquals(List.of(0, 1), BenchCommand.runOrder(2, "ab"));
        assertEquals(List.of(1, 0), BenchCommand.runOrder(2, "ba"));
        assertEquals(List.of(0), BenchCommand.runOrder(1, "ba"));
    }

    @Test
    void anOrderOtherThanAbOrBaIsRefusedBeforeAnythingRuns() {
        StringWriter err = new StringWriter();
        int exit = new CommandLine(new BenchCommand()).setErr(new PrintWriter(err))
                .execute("--runtime-endpoint", "unix:///nonexistent.sock", "--order", "aab");

        // a usage error (2); with --order ab the same command runs and fails to connect (1)
        assertEquals(2, exit, err.toString());
    }
}
