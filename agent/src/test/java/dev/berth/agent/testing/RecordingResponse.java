package dev.berth.agent.testing;

import dev.berth.agent.server.EndpointResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * An in-memory {@link dev.berth.agent.server.EndpointResponse} for tests of endpoints: it
 * keeps the status, the content type and the body, and counts flushes; {@link #goAway} makes
 * {@code clientGone()} true, as a client that hung up.
 */
public final class RecordingResponse implements EndpointResponse {
    private volatile int status = -1;
    private volatile String contentType;
    private final ByteArrayOutputStream body = new ByteArrayOutputStream();
    private volatile boolean gone;
    private volatile boolean closed;
    private volatile int flushes;

    @Override
    public synchronized void start(int status, String contentType) {
        if (this.status != -1) {
            throw new IllegalStateException("started twice");
        }
        this.status = status;
        this.contentType = contentType;
    }

    @Override
    public OutputStream body() {
        if (status == -1) {
            throw new IllegalStateException("body before start");
        }
        return new OutputStream() {
            @Override
            public void write(int b) {
                synchronized (body) {
                    body.write(b);
                }
            }

            @Override
            public void write(byte[] b, int off, int len) {
                synchronized (body) {
                    body.write(b, off, len);
                }
            }

            @Override
            public void flush() {
                flushes++;
            }

            @Override
            public void close() {
                closed = true;
            }
        };
    }

    @Override
    public boolean clientGone() {
        return gone;
    }

    /** From now on the client has gone. */
    public void goAway() {
        gone = true;
    }

    public int status() {
        return status;
    }

    public String contentType() {
        return contentType;
    }

    /** The body so far, as UTF-8. */
    public String text() {
        synchronized (body) {
            return body.toString(StandardCharsets.UTF_8);
        }
    }

    public byte[] bytes() {
        synchronized (body) {
            return body.toByteArray();
        }
    }

    public boolean closed() {
        return closed;
    }

    public int flushes() {
        return flushes;
    }

    /** Throws when the body is not complete; for readability in assertions. */
    public void requireClosed() throws IOException {
        if (!closed) {
            throw new IOException("the body was not closed");
        }
    }
}
