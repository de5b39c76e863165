package dev.berth.criserver.streaming;

import dev.berth.streaming.*;
import java.time.Clock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;

/**
 * What the exec and attach session tests share: a runc container under conmon and a streaming
 * server whose backend execs and attaches into it, both closed after each test.
 */
@Tag("root")
abstract class ContainerStreamingTest {
    static final String SUCCESS = "{\"metadata\":{},\"status\":\"Success\"}";

    RuncContainer ctr;
    StreamingServer server;

    /** Takes {@code container} and starts a streaming server in front of it. */
    void start(RuncContainer container) {
        ctr = container;
        server = StreamingServer.start("127.0.0.1", 0, StreamingServer.Options.defaults(),
                ProcessExecBackend.runtime(ctr.manager), Clock.systemUTC());
    }

    @AfterEach
    void closeServerAndContainer() throws Exception {
        try {
            if (server != null) {
                server.close();
            }
        } finally {
            if (ctr != null) {
                ctr.close();
            }
        }
    }
}
