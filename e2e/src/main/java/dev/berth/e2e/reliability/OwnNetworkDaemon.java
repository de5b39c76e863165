package dev.berth.e2e.reliability;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.e2e.BerthProcess;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A berth daemon for the hostile-input suites, on a bridge and subnet of their own
 * ({@code berthfz0}, 10.199.176.0/20) so that they can run beside the other e2e suites, and
 * the clean-up those suites need even when they fail: every pod and container removed
 * through the CRI, then any process still naming the test's directory killed, the bridge
 * deleted and what stays mounted below the directory unmounted.
 */
public final class OwnNetworkDaemon {
    public static final String BRIDGE = "berthfz0";
    public static final String SUBNET = "10.199.176.0/20";

    private OwnNetworkDaemon() {
    }

    /** Starts berth in {@code dir}/berth with the suites' network and a free loopback port for its metrics. */
    public static BerthProcess start(Path dir) throws IOException, InterruptedException {
        Path berthDir = dir.resolve("berth");
        Files.createDirectories(berthDir);
        // a test's temporary directory is 0700: opened to other users, what they can reach below is up to berth's own modes
        for (Path d : List.of(dir, berthDir)) {
            Files.setPosixFilePermissions(d, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        Path config = berthDir.resolve("berth-fuzz.toml");
        Files.writeString(config, "[network]\n"
                + "cni_config_dir = \"" + berthDir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\n"
                + "default_subnet = \"" + SUBNET + "\"\n"
                // a cap the hostile suite's 10 GiB bomb hits, above its 1 GiB passwd layer (the default, 128 GiB, fits real images)
                + "[images]\nmax_layer_bytes = " + (2L << 30) + "\n", StandardCharsets.UTF_8);
        // the heap bound the suites prove: berth exits on OutOfMemoryError, failing the run
        return BerthProcess.startWithMaxHeap(berthDir, "256m", "--config", config.toString(), "--metrics-address", "127.0.0.1:" + freePort());
    }

    /** A loopback port nobody listens on (at the time of the call). */
    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Removes every container and pod the daemon has (when it still runs), stops it, and removes what a failed run may have left. */
    public static void cleanUp(BerthProcess berth, Path dir) throws IOException, InterruptedException {
        try {
            if (berth != null && berth.process().isAlive()) {
                try {
                    for (Container c : berth.runtime().withDeadlineAfter(60, TimeUnit.SECONDS)
                            .listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
                        berth.runtime().withDeadlineAfter(60, TimeUnit.SECONDS)
                                .removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c.getId()).build());
                    }
                    for (PodSandbox p : berth.runtime().withDeadlineAfter(60, TimeUnit.SECONDS)
                            .listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                        berth.runtime().withDeadlineAfter(60, TimeUnit.SECONDS)
                                .removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                    }
                } catch (StatusRuntimeException e) {
                    System.out.println("clean-up through the CRI failed: " + e.getStatus());
                }
            }
        } finally {
            if (berth != null) {
                berth.close();
            }
            for (long pid : processesMentioning(dir.toString())) {
                new ProcessBuilder("kill", "-KILL", Long.toString(pid)).start().waitFor();
            }
            if (Files.exists(Path.of("/sys/class/net/" + BRIDGE))) {
                new ProcessBuilder("ip", "link", "delete", BRIDGE).start().waitFor();
            }
            List<String> left = mountsUnder(dir);
            for (int i = left.size() - 1; i >= 0; i--) {
                new ProcessBuilder("umount", "--lazy", left.get(i)).start().waitFor();
            }
        }
    }

    /** Mount points below {@code dir}, in mount order. */
    public static List<String> mountsUnder(Path dir) throws IOException {
        List<String> out = new ArrayList<>();
        String prefix = dir.toAbsolutePath().normalize().toString();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String mp = line.split(" ")[4].replace("\\040", " ");
            if (mp.equals(prefix) || mp.startsWith(prefix + "/")) {
                out.add(mp);
            }
        }
        return out;
    }

    /** Live processes (other than this JVM) whose command line mentions {@code text}. */
    public static List<Long> processesMentioning(String text) throws IOException {
        List<Long> out = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String cmd = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8).replace('\0', ' ');
                    long pid = Long.parseLong(p.getFileName().toString());
                    String stat = Files.readString(p.resolve("stat"));
                    boolean zombie = stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
                    if (cmd.contains(text) && pid != ProcessHandle.current().pid() && !zombie) {
                        out.add(pid);
                    }
                } catch (IOException e) {
                    // gone meanwhile
                }
            }
        }
        return out;
    }
}
