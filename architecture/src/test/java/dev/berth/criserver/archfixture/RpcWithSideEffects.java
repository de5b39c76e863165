package dev.berth.criserver.archfixture;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A deliberate violation for the rules' own test: an RPC handler that starts a process and writes a file. */
public final class RpcWithSideEffects {
    private RpcWithSideEffects() {
    }

    public static void handle(Path record) throws IOException {
        new ProcessBuilder("true").start();
        Files.writeString(record, "{}");
    }
}
