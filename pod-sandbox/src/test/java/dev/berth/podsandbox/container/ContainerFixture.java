package dev.berth.podsandbox.container;

import dev.berth.podsandbox.oci.RuntimeHandlers;
import dev.berth.podsandbox.oci.ConmonRuntime;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.HostFacts;
import dev.berth.podsandbox.container.spec.ImageConfig;
import dev.berth.podsandbox.container.spec.SandboxContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * A scratch berth state for container tests: a busybox root filesystem, state and run
 * directories, runc and crun handlers. {@link #close()} removes every container it made
 * (through the runtime, by force) and its directories, and checks nothing is left on the host.
 */
final class ContainerFixture implements AutoCloseable {
    static final Path CONMON = Path.of("/usr/bin/conmon");
    static final Path RUNC = Path.of("/usr/sbin/runc");
    static final Path CRUN = Path.of("/usr/bin/crun");

    final Path dir;
    final Path rootfs;
    final Path stateDir;
    final Path runDir;
    final Path logDir;
    final String tag;
    /** The handler of {@link #request(ContainerConfig)}: the suite runs with runc on the host, crun in the guest. */
    final String handler;
    final List<ContainerManager> managers = new ArrayList<>();

    ContainerFixture() throws IOException {
        this(null);
    }

    /** A fixture whose directories live under {@code base} (the system temp directory when null). */
    ContainerFixture(Path base) throws IOException {
        this(base, "runc");
    }

    /** A fixture under {@code base} whose requests name {@code handler}. */
    ContainerFixture(Path base, String handler) throws IOException {
        this.handler = handler;
        dir = base == null ? Files.createTempDirectory("berth-ctr-test")
                : Files.createTempDirectory(Files.createDirectories(base), "berth-ctr-test");
        tag = dir.getFileName().toString().replaceAll("[^A-Za-z0-9]", "").toLowerCase();
        rootfs = dir.resolve("rootfs");
        stateDir = dir.resolve("state");
        runDir = dir.resolve("run");
        logDir = dir.resolve("logs");
        buildBusyboxRootfs(rootfs);
    }

    static void buildBusyboxRootfs(Path rootfs) throws IOException {
        Path bin = Files.createDirectories(rootfs.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
        for (String app : List.of("sh", "echo", "cat", "sleep", "id", "pwd", "touch", "unshare", "grep", "head", "tr",
                "printf", "ls", "mkdir", "true", "false", "env", "ps", "seq", "trap", "wc", "yes", "dd", "kill", "readlink", "hostname")) {
            Files.createSymbolicLink(bin.resolve(app), Path.of("busybox"));
        }
        Path etc = Files.createDirectories(rootfs.resolve("etc"));
        Files.writeString(etc.resolve("passwd"), "root:x:0:0:root:/root:/bin/sh\n"
                + "app:x:1000:1001:app:/home/app:/bin/sh\n"
                + "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
        Files.writeString(etc.resolve("group"), "root:x:0:\n"
                + "appgrp:x:1001:\n"
                + "extra:x:2000:app,other\n"
                + "nogroup:x:65534:\n");
        for (String d : List.of("proc", "sys", "dev", "tmp", "root")) {
            Files.createDirectories(rootfs.resolve(d));
        }
    }

    ContainerManager manager() {
        return manager(ContainerManager.Options.defaults());
    }

    ContainerManager manager(ContainerManager.OomProbe probe) {
        return manager(ContainerManager.Options.defaults(), probe);
    }

    ContainerManager manager(ContainerManager.Options options) {
        return manager(options, rec -> false);
    }

    ContainerManager manager(ContainerManager.Options options, ContainerManager.OomProbe probe) {
        Duration t = Duration.ofSeconds(60);
        RuntimeHandlers handlers = new RuntimeHandlers(Map.of("runc", RUNC.toString(), "crun", CRUN.toString()), "runc",
                ConmonRuntime.factory(CONMON, runDir, t, Path::of));
        ContainerManager m = new ContainerManager(stateDir, runDir, handlers, HostFacts.current(),
                probe, options);
        managers.add(m);
        return m;
    }

    SandboxContext sandbox() {
        return SandboxContext.standalone("sandbox-" + tag, null);
    }

    CreateRequest request(ContainerConfig config) {
        return request(config, ImageConfig.empty(), handler);
    }

    CreateRequest request(ContainerConfig config, ImageConfig image, String handler) {
        return new CreateRequest(config, image, "busybox:test", sandbox(), rootfs, handler);
    }

    ContainerConfig.Builder config(String name) {
        return ContainerConfig.builder(name).logPath(logDir.resolve(name + ".log").toString());
    }

    static void await(String what, Duration timeout, BooleanSupplier done) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("gave up waiting for " + what + " after " + timeout);
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
        }
    }

    static ContainerRecord awaitExit(ContainerManager m, String id) {
        await("container " + id + " to exit", Duration.ofSeconds(30),
                () -> m.status(id).state() == ContainerState.EXITED);
        return m.status(id);
    }

    /** The content of the CRI log lines (full lines joined from partial ones), by stream. */
    static List<String> logLines(Path log, String stream) throws IOException {
        List<String> out = new ArrayList<>();
        StringBuilder partial = new StringBuilder();
        for (String line : Files.readAllLines(log)) {
            String[] f = line.split(" ", 4);
            if (f.length < 3 || !f[1].equals(stream)) {
                continue;
            }
            partial.append(f.length == 4 ? f[3] : "");
            if (f[2].equals("F")) {
                out.add(partial.toString());
                partial.setLength(0);
            }
        }
        return out;
    }

    /** Container ids whose conmon or runtime state is still present on the host. */
    List<String> leftovers() throws IOException {
        List<String> out = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.toList()) {
                if (!p.getFileName().toString().chars().allMatch(Character::isDigit)) {
                    continue;
                }
                try {
                    String cmd = Files.readString(p.resolve("cmdline")).replace('\0', ' ');
                    if (cmd.contains(dir.toString())) {
                        out.add("process " + p.getFileName() + ": " + cmd);
                    } else if (Files.readSymbolicLink(p.resolve("root")).startsWith(dir)) {
                        out.add("container process " + p.getFileName() + ": " + cmd);
                    }
                } catch (IOException e) {
                    // gone
                }
            }
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            if (line.contains(dir.toString())) {
                out.add("mount: " + line);
            }
        }
        for (String h : List.of("runc", "crun")) {
            Path root = runDir.resolve(h);
            if (Files.isDirectory(root)) {
                try (Stream<Path> s = Files.list(root)) {
                    s.forEach(p -> out.add(h + " state: " + p));
                }
            }
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        AssertionError failure = null;
        for (ContainerManager m : managers) {
            m.close();
            for (ContainerRecord r : m.list()) {
                try {
                    m.remove(r.id());
                } catch (RuntimeException e) {
                    failure = new AssertionError("cannot remove container " + r.id(), e);
                }
            }
        }
        // anything a failed test left behind the managers' backs
        for (String h : List.of("runc", "crun")) {
            Path root = runDir.resolve(h);
            if (Files.isDirectory(root)) {
                try (Stream<Path> s = Files.list(root)) {
                    for (Path p : s.toList()) {
                        new ProcessBuilder(List.of(h.equals("runc") ? RUNC.toString() : CRUN.toString(), "--root",
                                root.toString(), "delete", "--force", p.getFileName().toString()))
                                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start()
                                .onExit().join();
                    }
                }
            }
        }
        List<String> left = leftovers();
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        if (failure != null) {
            throw failure;
        }
        if (!left.isEmpty()) {
            throw new AssertionError("left behind: " + left);
        }
    }
}
