package dev.berth.criserver.streaming;

import dev.berth.podsandbox.oci.RuntimeHandlers;
import dev.berth.streaming.*;
import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.ContainerRecord;
import dev.berth.podsandbox.container.CreateRequest;
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
import java.util.stream.Stream;

/**
 * A running runc container (busybox, {@code sleep}) under conmon for exec tests, in a scratch
 * state directory. {@link #close()} removes it and its directories; {@link #leftovers()} lists
 * processes still running from its root filesystem.
 */
final class RuncContainer implements AutoCloseable {
    final Path dir;
    final ContainerManager manager;
    final String id;

    RuncContainer() throws IOException {
        this(List.of("sleep", "100000"), false, false, false);
    }

    /**
     * A container running {@code cmd}, with a terminal ({@code tty}) and a stdin pipe
     * ({@code stdin}, closed after the first attachment when {@code stdinOnce}).
     */
    RuncContainer(List<String> cmd, boolean tty, boolean stdin, boolean stdinOnce) throws IOException {
        dir = Files.createTempDirectory("berth-stream-test");
        String tag = dir.getFileName().toString().replaceAll("[^A-Za-z0-9]", "").toLowerCase();
        Path rootfs = dir.resolve("rootfs");
        Path bin = Files.createDirectories(rootfs.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
        for (String app : List.of("sh", "echo", "cat", "sleep", "true", "false", "wc", "stty")) {
            Files.createSymbolicLink(bin.resolve(app), Path.of("busybox"));
        }
        Files.createDirectories(rootfs.resolve("etc"));
        Files.writeString(rootfs.resolve("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        Files.writeString(rootfs.resolve("etc/group"), "root:x:0:\n");
        for (String d : List.of("proc", "sys", "dev", "tmp", "root")) {
            Files.createDirectories(rootfs.resolve(d));
        }
        Path runDir = dir.resolve("run");
        manager = new ContainerManager(dir.resolve("state"), runDir,
                new RuntimeHandlers(Map.of("runc", "/usr/sbin/runc"), "runc", ConmonRuntime.factory(Path.of("/usr/bin/conmon"),
                        runDir, Duration.ofSeconds(60), Path::of)), HostFacts.current(), rec -> false, ContainerManager.Options.defaults());
        ContainerConfig config = ContainerConfig.builder("main").logPath(dir.resolve("main.log").toString())
                .command(cmd.get(0)).args(cmd.subList(1, cmd.size()).toArray(String[]::new)).tty(tty).stdin(stdin)
                .stdinOnce(stdinOnce).build();
        ContainerRecord rec = manager.create(newContainerId(), new CreateRequest(config, ImageConfig.empty(), "busybox:test",
                SandboxContext.standalone("sandbox-" + tag, null), rootfs, "runc"));
        id = rec.id();
        manager.start(id);
    }

    /** The container's status as the OCI runtime reports it ({@code runc state}), not as berth recorded it. */
    String runtimeStatus() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("/usr/sbin/runc", "--root", dir.resolve("run/runc").toString(), "state", id)
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        p.waitFor();
        return dev.berth.common.Json.mapper().readTree(out).path("status").asText(out);
    }

    /** Processes on the host whose command line contains {@code cmdlinePart}. */
    List<String> leftovers(String cmdlinePart) throws IOException {
        List<String> out = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.toList()) {
                if (!p.getFileName().toString().chars().allMatch(Character::isDigit)) {
                    continue;
                }
                try {
                    String cmd = Files.readString(p.resolve("cmdline")).replace('\0', ' ');
                    if (cmd.contains(cmdlinePart)) {
                        out.add(p.getFileName() + ": " + cmd);
                    }
                } catch (IOException e) {
                    // gone
                }
            }
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        try {
            manager.close();
            manager.remove(id);
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    /** A fresh container id (64 hex digits), as the container service gives one. */
    private static String newContainerId() {
        byte[] b = new byte[32];
        new java.security.SecureRandom().nextBytes(b);
        return java.util.HexFormat.of().formatHex(b);
    }
}
