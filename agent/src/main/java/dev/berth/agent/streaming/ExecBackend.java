package dev.berth.agent.streaming;

import java.io.InputStream;
import java.io.OutputStream;
import java.util.concurrent.CompletableFuture;

/** Starts the processes of exec sessions. */
public interface ExecBackend {
    /**
     * Starts {@code request}'s command; throws a {@link dev.berth.common.BerthException} when the
     * container is unknown or not running.
     */
    Session start(StreamRequest.Exec request);

    /** A running exec process. */
    interface Session {
        OutputStream stdin();

        InputStream stdout();

        InputStream stderr();

        /** Completes with the exit code (128 + signal for a killed process). */
        CompletableFuture<Integer> exit();

        /** Kills the process (and what it started); idempotent. */
        void kill();
    }
}
