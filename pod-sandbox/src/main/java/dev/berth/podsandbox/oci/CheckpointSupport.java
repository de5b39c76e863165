package dev.berth.podsandbox.oci;

import dev.berth.host.Command;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * Why berth does not checkpoint containers on this host (CheckpointContainer answers
 * UNIMPLEMENTED), for Status verbose info: an OCI runtime checkpoints through CRIU, so the
 * statement names what CRIU says of this host: not installed, or what {@code criu check}
 * fails on (on this kernel, CRIU 3.17 cannot parse the vDSO: "Unexpected rt vDSO area bounds").
 */
public final class CheckpointSupport {
    static final Duration CHECK_TIMEOUT = Duration.ofSeconds(20);

    private CheckpointSupport() {
    }

    /** The statement for this host: looks for criu on PATH and runs {@code criu check}. */
    public static String describe() {
        return describe(CheckpointSupport::onPath, argv -> Command.run(argv, new byte[0], CHECK_TIMEOUT));
    }

    static String describe(Function<String, Optional<Path>> which, Function<List<String>, Command.Result> run) {
        String head = "unsupported: CheckpointContainer is not implemented (UNIMPLEMENTED); ";
        Optional<Path> criu = which.apply("criu");
        if (criu.isEmpty()) {
            return head + "CRIU, which checkpointing needs, is not installed (no criu on PATH)";
        }
        Command.Result r;
        try {
            r = run.apply(List.of(criu.get().toString(), "check"));
        } catch (RuntimeException e) {
            return head + "cannot run " + criu.get() + " check: " + e.getMessage();
        }
        if (r.timedOut()) {
            return head + criu.get() + " check did not finish within " + CHECK_TIMEOUT.toSeconds() + " s";
        }
        if (!r.ok()) {
            return head + "CRIU cannot run on this host: " + criu.get() + " check failed (exit status " + r.exitCode()
                    + "): " + String.join("; ", r.diagnostic().lines().map(String::strip).filter(l -> !l.isEmpty())
                    .toList());
        }
        return head + criu.get() + " check passes, but berth has no checkpoint support yet";
    }

    private static Optional<Path> onPath(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
                .split(":")) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, name);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }
}
