package dev.berth.streaming;

import dev.berth.common.BerthException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.concurrent.CompletableFuture;

/** Starts the processes of exec sessions and connects attach sessions to containers. */
public interface ExecBackend {
    /**
     * Starts {@code request}'s command; throws a {@link dev.berth.common.BerthException} when the
     * container is unknown or not running.
     */
    Session start(StreamRequest.Exec request);

    /**
     * Connects to the standard streams of {@code request}'s container. The session's exit
     * completes when the container's output ends (it exited); {@link Session#kill()} only
     * detaches and never stops the container.
     */
    default Session attach(StreamRequest.Attach request) {
        throw BerthException.failedPrecondition("attach is not supported by this runtime backend");
    }

    /** A running exec process, or an attachment to a container. */
    interface Session {
        OutputStream stdin();

        InputStream stdout();

        /** The error stream; null with a TTY, whose terminal carries both output streams on stdout. */
        InputStream stderr();

        /** Completes with the exit code (128 + signal for a killed process). */
        CompletableFuture<Integer> exit();

        /** Kills the process (and what it started), or detaches from a container; idempotent. */
        void kill();

        /** Sets the terminal size of a TTY session; ignored without a TTY. */
        default void resize(int width, int height) {
        }
    }
}
