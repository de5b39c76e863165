package dev.berth.agent.server;

import java.io.IOException;
import java.io.OutputStream;

/** Where an {@link Endpoint} answers: a status and content type first, then the body. */
public interface EndpointResponse {
    /** Sends the status line and headers; called once, before {@link #body()}. */
    void start(int status, String contentType) throws IOException;

    /** The body, sent as it is written (chunked): flush to push what a follower waits for. */
    OutputStream body() throws IOException;

    /** Whether the client has gone: a blocking endpoint (follow) stops then. */
    boolean clientGone();

    /** Answers {@code status} with a plain-text message (an error), when nothing was started yet. */
    default void error(int status, String message) throws IOException {
        start(status, "text/plain; charset=utf-8");
        try (OutputStream out = body()) {
            out.write((message + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
    }
}
