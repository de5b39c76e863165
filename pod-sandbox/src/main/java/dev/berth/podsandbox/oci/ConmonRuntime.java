package dev.berth.podsandbox.oci;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.common.PrivateFiles;
import dev.berth.host.Command;
import dev.berth.host.HostProcesses;
import dev.berth.host.Libc;
import dev.berth.host.Spawn;
import dev.berth.host.LinuxProcesses;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One runtime handler: an OCI runtime binary (runc or crun) with its own state root. A
 * container is created under a {@code conmon} monitor. conmon daemonizes, so the container and
 * its monitor outlive berth; it writes the container's output to the CRI log and the exit code
 * to {@code <exitDir>/<id>} when the container ends. A pod's infra process is run detached,
 * without a monitor, through the binary as configured.
 */
public final class ConmonRuntime implements OciRuntime {
    private static final Logger LOG = LoggerFactory.getLogger(ConmonRuntime.class);
    /** conmon reads the descriptor number of its sync pipe from this variable. */
    private static final String SYNC_PIPE_ENV = "_OCI_SYNCPIPE";

    private final String handler;
    private final String binary;
    private final Path conmon;
    private final Path runtimeBinary;
    private final Path runtimeRoot;
    private final Duration commandTimeout;
    private final HostProcesses processes;

    /**
     * @param handler       the CRI runtime handler name ("runc", "crun")
     * @param binary        the runtime binary as configured: what the infra process is run with
     *                      and what sandboxes record
     * @param runtimeBinary the same binary resolved: what conmon and the container commands run
     * @param conmon        the conmon binary
     * @param runtimeRoot   the runtime's state directory (its --root), private to berth
     * @param processes     the seam through which an abandoned conmon is killed
     */
    public ConmonRuntime(String handler, String binary, Path runtimeBinary, Path conmon, Path runtimeRoot,
            Duration commandTimeout, HostProcesses processes) {
        this.handler = handler;
        this.binary = binary;
        this.conmon = conmon;
        this.runtimeBinary = runtimeBinary;
        this.runtimeRoot = runtimeRoot;
        this.commandTimeout = commandTimeout;
        this.processes = processes;
    }

    /**
     * Builds the runtime of each handler for {@link RuntimeHandlers}: state under
     * {@code <stateRoot>/<handler>}, the configured binary resolved by {@code executable}.
     */
    public static RuntimeHandlers.Factory factory(Path conmon, Path stateRoot, Duration commandTimeout,
            Function<String, Path> executable) {
        return (handler, binary) -> new ConmonRuntime(handler, binary, executable.apply(binary), conmon,
                stateRoot.resolve(handler), commandTimeout, LinuxProcesses.INSTANCE);
    }

    @Override
    public String handler() {
        return handler;
    }

    @Override
    public String binary() {
        return binary;
    }

    @Override
    public Path runtimeBinary() {
        return runtimeBinary;
    }

    // ---------------------------------------------------------------- the infra process

    @Override
    public long runDetached(String id, Path bundle, Path output) {
        Path pidFile = bundle.resolve("pid");
        List<String> argv = List.of(binary, "--root", runtimeRoot.toString(), "run", "--detach",
                "--bundle", bundle.toString(), "--pid-file", pidFile.toString(), id);
        try {
            PrivateFiles.directory(runtimeRoot);
            PrivateFiles.open(output, PrivateFiles.FILE, true).close();
            Command.Result r = Command.of(argv).appendOutputTo(output).timeout(Duration.ofSeconds(60))
                    .onTimeout(Process::destroyForcibly).execute();
            if (r.timedOut()) {
                throw BerthException.deadlineExceeded("%s run %s did not finish within 60 s", binary, id);
            }
            if (r.exitCode() != 0) {
                String out = Files.exists(output) ? Files.readString(output).strip() : "";
                throw BerthException.internal(binary + " run " + id + " failed with exit status " + r.exitCode() + ": " + out, null);
            }
            return Long.parseLong(Files.readString(pidFile).strip());
        } catch (IOException e) {
            throw BerthException.internal("cannot run " + binary + " for " + id, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted while starting " + id, e);
        } catch (NumberFormatException e) {
            throw BerthException.internal(binary + " wrote no usable pid file for " + id, e);
        }
    }

    @Override
    public void forceDelete(String id) {
        Command.Result r = Command.run(binary, "--root", runtimeRoot.toString(), "delete", "--force", id);
        if (!r.ok() && exists(id)) {
            throw BerthException.internal(binary + " delete --force " + id + " failed: " + r.stderr().strip(), null);
        }
    }

    @Override
    public boolean exists(String id) {
        return Files.exists(runtimeRoot.resolve(id));
    }

    // ---------------------------------------------------------------- containers under conmon

    /**
     * Starts conmon, which runs {@code <runtime> create} on the bundle and reports the
     * container's pid (or the runtime's error) through its sync pipe: a FIFO in the bundle,
     * opened by berth for reading first and then given to conmon as descriptor 3 by
     * {@link Spawn} (no other descriptor of berth reaches the long-lived monitor, and no helper
     * program runs). Where the C library cannot spawn so, a shell opens the FIFO as descriptor
     * 3 and execs conmon.
     */
    @Override
    public Created create(String id, Layout layout, boolean terminal, boolean stdin, boolean stdinOnce,
            Duration timeout) {
        try {
            PrivateFiles.directory(runtimeRoot);
            PrivateFiles.directory(layout.exitDir());
            PrivateFiles.directory(layout.socketDir());
            PrivateFiles.createDirectories(layout.logPath().toAbsolutePath().getParent());
            // conmon's own messages may quote the container's config: 0600 before it writes
            PrivateFiles.write(layout.conmonStderr(), new byte[0]);
        } catch (IOException e) {
            throw BerthException.internal("cannot prepare directories for container " + id, e);
        }
        // conmon daemonizes at once: its report comes from the grandchild, after the process we
        // start has exited, so it travels through a FIFO in the bundle. berth holds its read
        // end before conmon opens the write end, so neither side ever blocks opening it
        Path fifo = layout.bundle().resolve("sync.fifo");
        if (Libc.c().mknod(fifo.toString(), Libc.S_IFIFO | 0600, 0) != 0) {
            throw BerthException.internal("cannot create the sync FIFO for container " + id,
                    new IOException(Libc.describe(Libc.errno())));
        }
        int reader = Libc.c().open(fifo.toString(), Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_CLOEXEC);
        if (reader < 0) {
            int e = Libc.errno();
            deleteQuietly(fifo);
            throw BerthException.internal("cannot open the sync FIFO for container " + id, new IOException(Libc.describe(e)));
        }
        String json;
        try {
            List<String> argv = conmonArgv(id, layout, terminal, stdin, stdinOnce);
            Launched launched;
            try {
                launched = launch(argv, layout, fifo);
            } catch (IOException e) {
                throw BerthException.unavailable("cannot start conmon (%s): %s", conmon, e.getMessage());
            }
            try {
                json = readReport(reader, timeout);
            } catch (TimeoutException e) {
                launched.kill();
                abandon(id, layout);
                throw BerthException.deadlineExceeded("%s did not create container %s within %s", handler, id, timeout);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                launched.kill();
                abandon(id, layout);
                throw new BerthException(BerthException.Kind.CANCELLED, "interrupted creating container " + id, e);
            }
            launched.reap();
        } finally {
            Libc.c().close(reader);
            deleteQuietly(fifo);
        }
        if (json == null) {
            String err = readQuietly(layout.conmonStderr());
            abandon(id, layout);
            throw BerthException.unavailable("conmon exited without reporting on container %s%s", id,
                    err.isBlank() ? "" : ": " + err.strip());
        }
        JsonNode node;
        try {
            node = Json.mapper().readTree(json);
        } catch (IOException e) {
            abandon(id, layout);
            throw BerthException.internal("conmon sent an unreadable report for container " + id + ": " + json, e);
        }
        long pid = node.path("data").asLong(-1);
        if (pid <= 0) {
            String msg = node.path("message").asText("");
            abandon(id, layout);
            String why = msg.isBlank() ? "exit status " + pid : msg.strip();
            if (why.contains("hybrid mode")) {
                why += " (this host mixes cgroup v1 controllers with cgroup v2; use the runc handler here)";
            }
            throw BerthException.failedPrecondition("%s could not create container %s: %s", handler, id, why);
        }
        long conmonPid = readPid(layout.conmonPidFile());
        return new Created(pid, conmonPid);
    }

    private List<String> conmonArgv(String id, Layout layout, boolean terminal, boolean stdin, boolean stdinOnce) {
        List<String> argv = new ArrayList<>(List.of(conmon.toString(), "--api-version", "1",
                "-c", id, "-u", id, "-n", id,
                "-r", runtimeBinary.toString(),
                "-b", layout.bundle().toString(),
                "-p", layout.pidFile().toString(),
                "-P", layout.conmonPidFile().toString(),
                "-l", "k8s-file:" + layout.logPath(),
                "--exit-dir", layout.exitDir().toString(),
                "--socket-dir-path", layout.socketDir().toString(),
                "--runtime-arg", "--root=" + runtimeRoot,
                "--log-level", "info"));
        if (terminal) {
            argv.add("-t");
        }
        if (stdin) {
            argv.add("-i");
            if (!stdinOnce) {
                // stdin stays open for the next attach when a client detaches
                argv.add("--leave-stdin-open");
            }
        }
        return argv;
    }

    /** The first conmon process, which forks the monitor and exits: reaped, or killed when it hangs. */
    private interface Launched {
        void reap();

        void kill();
    }

    /**
     * Starts conmon with the FIFO as its descriptor 3, in the bundle (conmon writes files into
     * its working directory, an "oom" marker on an OOM event: never berth's own), its stdout
     * discarded and its stderr to the bundle's conmon.stderr.
     */
    private Launched launch(List<String> argv, Layout layout, Path fifo) throws IOException {
        if (Spawn.available()) {
            java.util.Map<String, String> env = new java.util.HashMap<>(System.getenv());
            env.put(SYNC_PIPE_ENV, "3");
            Path devNull = Path.of("/dev/null");
            int pid = Spawn.start(argv, env, layout.bundle(), List.of(Spawn.Open.read(0, devNull),
                    Spawn.Open.write(1, devNull),
                    new Spawn.Open(2, layout.conmonStderr(), Libc.O_WRONLY | Spawn.O_TRUNC, 0),
                    Spawn.Open.write(3, fifo)));
            return new Launched() {
                @Override
                public void reap() {
                    Spawn.reap(pid, 5000);
                }

                @Override
                public void kill() {
                    Spawn.reap(pid, 0);
                }
            };
        }
        List<String> shell = new ArrayList<>(List.of("/bin/sh", "-c", "f=$1; shift; exec \"$@\" 3>\"$f\"", "sh",
                fifo.toString()));
        shell.addAll(argv);
        Process p = Command.of(shell)
                .directory(layout.bundle())
                .stdout(ProcessBuilder.Redirect.DISCARD)
                .stderr(ProcessBuilder.Redirect.to(layout.conmonStderr().toFile()))
                .environment(env -> env.put(SYNC_PIPE_ENV, "3"))
                .start();
        return new Launched() {
            @Override
            public void reap() {
                try {
                    p.waitFor(5, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }

            @Override
            public void kill() {
                p.destroyForcibly();
            }
        };
    }

    /**
     * Reads conmon's one JSON report from the FIFO's read end (non-blocking) until the object
     * is complete; null at end of stream (every writer closed it without a report).
     */
    private static String readReport(int fd, Duration timeout) throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        Pointer buf = Memory.allocateDirect(Libc.runtime(), 4096);
        byte[] chunk = new byte[4096];
        while (true) {
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new TimeoutException();
            }
            int ev = Libc.poll(fd, Libc.POLLIN, (int) Math.min(TimeUnit.NANOSECONDS.toMillis(left) + 1, 1000));
            if (ev == 0) {
                continue;
            }
            if (ev < 0) {
                return null;
            }
            long n = Libc.c().read(fd, buf, chunk.length);
            if (n > 0) {
                buf.get(0, chunk, 0, (int) n);
                got.write(chunk, 0, (int) n);
                String json = jsonObject(got.toByteArray());
                if (json != null) {
                    return json;
                }
            } else if (n == 0) {
                return null; // every writer is gone
            } else if (Libc.errno() != Libc.EAGAIN && Libc.errno() != Libc.EINTR) {
                return null;
            }
        }
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            LOG.debug("cannot remove {}: {}", file, e.getMessage());
        }
    }

    /** Undoes a create that went wrong half-way: the runtime's container and conmon go. */
    private void abandon(String id, Layout layout) {
        long conmonPid = readPidQuietly(layout.conmonPidFile());
        delete(id);
        if (conmonPid > 0) {
            processes.signal(conmonPid, 9);
        }
        try {
            Files.deleteIfExists(layout.exitFile(id));
            Files.deleteIfExists(layout.socketDir().resolve(id));
        } catch (IOException e) {
            LOG.warn("cannot remove conmon files of abandoned container {}: {}", id, e.getMessage());
        }
    }

    /** The first complete JSON object in {@code bytes} (conmon writes it without a newline), or null while incomplete. */
    static String jsonObject(byte[] bytes) {
        int depth = 0;
        int from = -1;
        boolean inString = false;
        boolean escaped = false;
        for (int i = 0; i < bytes.length; i++) {
            int c = bytes[i];
            if (from < 0) {
                if (c == '{') {
                    from = i;
                    depth = 1;
                }
                continue;
            }
            if (inString) {
                if (escaped) {
                    escaped = false;
                } else if (c == '\\') {
                    escaped = true;
                } else if (c == '"') {
                    inString = false;
                }
                continue;
            }
            if (c == '"') {
                inString = true;
            } else if (c == '{') {
                depth++;
            } else if (c == '}' && --depth == 0) {
                return new String(bytes, from, i + 1 - from, StandardCharsets.UTF_8);
            }
        }
        return null;
    }

    @Override
    public void start(String id) {
        Command.Result r = runtime(List.of("start", id), null);
        if (!r.ok()) {
            throw BerthException.failedPrecondition("%s could not start container %s: %s", handler, id, r.diagnostic());
        }
    }

    @Override
    public java.util.Optional<String> status(String id) {
        Command.Result r = runtime(List.of("state", id), null);
        if (!r.ok()) {
            String d = r.diagnostic().toLowerCase(Locale.ROOT);
            if (unknownContainer(d)) {
                return java.util.Optional.empty();
            }
            throw BerthException.unavailable("%s could not tell the state of container %s: %s", handler, id, r.diagnostic());
        }
        try {
            String status = Json.mapper().readTree(r.stdout()).path("status").asText("");
            return status.isEmpty() ? java.util.Optional.empty() : java.util.Optional.of(status);
        } catch (IOException e) {
            throw BerthException.internal(handler + " state " + id + " printed no readable state", e);
        }
    }

    /** Sends a signal to the container's init; a container that is already gone is not an error. */
    @Override
    public boolean kill(String id, String signal) {
        Command.Result r = runtime(List.of("kill", id, signal), null);
        if (r.ok()) {
            return true;
        }
        String d = r.diagnostic().toLowerCase(Locale.ROOT);
        if (unknownContainer(d) || d.contains("not running") || d.contains("no such process") || d.contains("stopped")) {
            return false;
        }
        throw BerthException.unavailable("%s could not signal container %s: %s", handler, id, r.diagnostic());
    }

    /** Forcibly deletes the runtime's state for the container; an unknown container is fine. */
    @Override
    public void delete(String id) {
        Command.Result r = runtime(List.of("delete", "--force", id), null);
        if (!r.ok()) {
            String d = r.diagnostic().toLowerCase(Locale.ROOT);
            if (!unknownContainer(d)) {
                throw BerthException.unavailable("%s could not delete container %s: %s", handler, id, r.diagnostic());
            }
        }
    }

    /** Whether the runtime's (lower-cased) diagnostic says it has no such container. */
    private static boolean unknownContainer(String diagnostic) {
        return diagnostic.contains("not exist") || diagnostic.contains("no such file");
    }

    /** Applies resources (OCI linux.resources JSON) to a running container. */
    @Override
    public void update(String id, Path resourcesJson) {
        Command.Result r = runtime(List.of("update", "--resources", resourcesJson.toString(), id), null);
        if (!r.ok()) {
            throw BerthException.failedPrecondition("%s could not update container %s: %s", handler, id, r.diagnostic());
        }
    }

    /** The runtime's {@code exec} command line for a process spec, recording the process's pid. */
    @Override
    public List<String> execCommand(String id, Path processJson, Path pidFile) {
        return List.of(runtimeBinary.toString(), "--root", runtimeRoot.toString(), "exec", "--process",
                processJson.toString(), "--pid-file", pidFile.toString(), id);
    }

    private Command.Result runtime(List<String> args, byte[] stdin) {
        List<String> argv = new ArrayList<>();
        argv.add(runtimeBinary.toString());
        argv.add("--root");
        argv.add(runtimeRoot.toString());
        argv.addAll(args);
        return Command.run(argv, stdin, commandTimeout);
    }

    static long readPid(Path file) {
        try {
            return Long.parseLong(Files.readString(file).trim());
        } catch (IOException | NumberFormatException e) {
            throw BerthException.internal("cannot read pid file " + file, e);
        }
    }

    static long readPidQuietly(Path file) {
        try {
            return Long.parseLong(Files.readString(file).trim());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    private static String readQuietly(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return "";
        }
    }
}
