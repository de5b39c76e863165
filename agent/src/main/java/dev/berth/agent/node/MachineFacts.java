package dev.berth.agent.node;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the Node says of the machine that does not change while the agent runs: online cpus,
 * memory, hugepages per size, kernel, OS image, machine id, system UUID, boot id and
 * architecture. Read from the files under {@code root} ("/" on a real machine); each read is
 * bounded to {@link #MAX_READ} bytes, as these files are small.
 * @param hugepages the bytes of hugepages per resource name ("hugepages-2Mi")
 */
public record MachineFacts(int cpus, long memoryBytes, Map<String, Long> hugepages, String kernelVersion, String osImage,
                           String machineId, String systemUuid, String bootId, String architecture) {
    /** The most of any one of these files that is read. */
    static final int MAX_READ = 4096;

    public MachineFacts {
        hugepages = Map.copyOf(hugepages);
    }

    /** This machine. */
    public static MachineFacts current() {
        return read(Path.of("/"), System.getProperty("os.arch"));
    }

    /** The machine whose /proc, /sys and /etc are under {@code root}; {@code javaArch} is the JVM's os.arch. */
    static MachineFacts read(Path root, String javaArch) {
        long memory;
        try {
            memory = dev.berth.host.HostMemory.totalBytes(root.resolve("proc/meminfo"));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the machine's memory: " + e.getMessage(), e);
        }
        return new MachineFacts(onlineCpus(root), memory, hugepages(root.resolve("sys/kernel/mm/hugepages")),
                small(root.resolve("proc/sys/kernel/osrelease")), osImage(root),
                small(root.resolve("etc/machine-id")), small(root.resolve("sys/class/dmi/id/product_uuid")),
                small(root.resolve("proc/sys/kernel/random/boot_id")), goArch(javaArch));
    }

    /** The cpus in {@code /sys/devices/system/cpu/online} ("0-3,6"); the JVM's count when unreadable. */
    static int onlineCpus(Path root) {
        String online = small(root.resolve("sys/devices/system/cpu/online"));
        int n = 0;
        try {
            for (String part : online.split(",")) {
                if (part.isBlank()) {
                    continue;
                }
                String[] r = part.trim().split("-");
                n += r.length == 1 ? 1 : Integer.parseInt(r[1]) - Integer.parseInt(r[0]) + 1;
            }
        } catch (NumberFormatException e) {
            n = 0;
        }
        return n > 0 ? n : Runtime.getRuntime().availableProcessors();
    }

    /** {@code nr_hugepages} of each {@code hugepages-<N>kB} directory, as bytes under "hugepages-<size>". */
    static Map<String, Long> hugepages(Path dir) {
        Map<String, Long> out = new TreeMap<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (DirectoryStream<Path> sizes = Files.newDirectoryStream(dir, "hugepages-*kB")) {
            for (Path size : sizes) {
                String name = size.getFileName().toString();
                long kb;
                long pages;
                try {
                    kb = Long.parseLong(name.substring("hugepages-".length(), name.length() - 2));
                    pages = Long.parseLong(small(size.resolve("nr_hugepages")));
                } catch (NumberFormatException e) {
                    continue;
                }
                out.put("hugepages-" + Quantities.bytes(kb * 1024), pages * kb * 1024);
            }
        } catch (IOException e) {
            // no hugepages to report
        }
        return out;
    }

    /** PRETTY_NAME of os-release ({@code /etc/os-release}, else {@code /usr/lib/os-release}), as the kubelet reports it. */
    static String osImage(Path root) {
        for (String f : new String[] {"etc/os-release", "usr/lib/os-release"}) {
            for (String line : small(root.resolve(f)).split("\n")) {
                if (line.startsWith("PRETTY_NAME=")) {
                    return line.substring("PRETTY_NAME=".length()).trim().replaceAll("^[\"']|[\"']$", "");
                }
            }
        }
        return "Linux";
    }

    /** Go's name of an architecture (what Kubernetes labels and images use) for the JVM's os.arch. */
    static String goArch(String javaArch) {
        return switch (javaArch.toLowerCase(Locale.ROOT)) {
            case "amd64", "x86_64" -> "amd64";
            case "aarch64", "arm64" -> "arm64";
            case "arm", "arm32" -> "arm";
            case "x86", "i386", "i686" -> "386";
            case "ppc64le" -> "ppc64le";
            case "s390x" -> "s390x";
            case "riscv64" -> "riscv64";
            case "loongarch64" -> "loong64";
            default -> javaArch;
        };
    }

    /** The first {@link #MAX_READ} bytes of a small file, trimmed; "" when it cannot be read. */
    static String small(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            return new String(in.readNBytes(MAX_READ), StandardCharsets.UTF_8).trim();
        } catch (IOException | SecurityException e) {
            return "";
        }
    }
}
