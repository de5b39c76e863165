package dev.berth.host;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The machine's memory as the kernel reports it ({@code MemTotal} of {@code /proc/meminfo}). */
public final class HostMemory {
    private HostMemory() {
    }

    /** {@code MemTotal} of this machine, in bytes. */
    public static long totalBytes() throws IOException {
        return totalBytes(Path.of("/proc/meminfo"));
    }

    /** {@code MemTotal} of a meminfo file, in bytes; IOException when it has none or it is unreadable. */
    public static long totalBytes(Path meminfo) throws IOException {
        for (String line : Files.readAllLines(meminfo)) {
            if (line.startsWith("MemTotal:")) {
                try {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                } catch (NumberFormatException e) {
                    throw new IOException("unreadable MemTotal in " + meminfo + ": " + line, e);
                }
            }
        }
        throw new IOException("no MemTotal in " + meminfo);
    }
}
