package dev.berth.e2e;

import dev.berth.cli.Main;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code berth} client commands against a daemon's socket for the e2e tests: in process
 * (fast: the same command line as the launcher's, output captured) or through the launcher as
 * an operator would (its real exit code, stdin and environment).
 */
public final class BerthCli {
    /** What a command printed and how it ended. */
    public record Result(int exit, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    private final String endpoint;

    public BerthCli(Path socket) {
        this.endpoint = "unix://" + socket;
    }

    public String endpoint() {
        return endpoint;
    }

    /** {@code berth <command> -r <socket> args...} in this JVM. */
    public Result run(String command, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        List<String> argv = new ArrayList<>();
        argv.add(command);
        argv.add("--runtime-endpoint=" + endpoint);
        argv.addAll(List.of(args));
        int exit = Main.commandLine().setOut(new PrintWriter(out, true)).setErr(new PrintWriter(err, true)).execute(argv.toArray(String[]::new));
        return new Result(exit, out.toString(), err.toString());
    }

    /** The same through the launcher, in a process of its own, with this stdin (null for none) and extra environment. */
    public Result launch(String stdin, Map<String, String> env, long timeoutSeconds, String command, String... args)
            throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>();
        argv.add(BerthProcess.launcher().toString());
        argv.add(command);
        argv.add("--runtime-endpoint=" + endpoint);
        argv.addAll(List.of(args));
        Path dir = Files.createTempDirectory("berth-cli");
        try {
            ProcessBuilder pb = new ProcessBuilder(argv).redirectOutput(dir.resolve("out").toFile()).redirectError(dir.resolve("err").toFile());
            pb.environment().putAll(env);
            if (stdin == null) {
                pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            }
            Process p = pb.start();
            if (stdin != null) {
                try (var in = p.getOutputStream()) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            }
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                throw new AssertionError("berth " + String.join(" ", args) + " did not end within " + timeoutSeconds + " s: "
                        + Files.readString(dir.resolve("err")));
            }
            return new Result(p.exitValue(), Files.readString(dir.resolve("out")), Files.readString(dir.resolve("err")));
        } finally {
            for (String f : List.of("out", "err")) {
                Files.deleteIfExists(dir.resolve(f));
            }
            Files.deleteIfExists(dir);
        }
    }
}
