package dev.berth.cli.client;

import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;

/** What exec and attach share: the local terminal around a {@link CommandSession}. */
final class Attachments {
    private Attachments() {
    }

    /**
     * Runs the session at {@code url}: with {@code tty} and a terminal on stdin, that terminal in
     * raw mode for as long as it lasts (restored on every way out). Returns the exit code.
     */
    static int run(String url, boolean stdin, boolean tty, OutputStream out, OutputStream err, Duration timeout) throws IOException {
        Terminal terminal = tty ? Terminal.raw() : null;
        try {
            return CommandSession.run(url, stdin ? System.in : null, out, err, terminal, timeout);
        } finally {
            if (terminal != null) {
                terminal.close();
            }
        }
    }
}
