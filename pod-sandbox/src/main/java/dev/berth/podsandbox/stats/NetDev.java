package dev.berth.podsandbox.stats;

import dev.berth.common.BerthException;
import dev.berth.host.Command;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Per-interface counters of a network namespace, read from {@code /proc/net/dev} as a process
 * inside the namespace sees it ({@code nsenter --net=PATH cat /proc/net/dev}).
 */
public final class NetDev {
    private static final long TIMEOUT_SECONDS = 5;
    private final String nsenter;

    public NetDev() {
        this("nsenter");
    }

    public NetDev(String nsenter) {
        this.nsenter = nsenter;
    }

    /** The interfaces of the namespace pinned at {@code netns}, loopback included. */
    public List<Usage.Interface> read(Path netns) {
        Command.Result r;
        try {
            r = Command.of(nsenter, "--net=" + netns, "cat", "/proc/net/dev").discardStderr()
                    .timeout(Duration.ofSeconds(TIMEOUT_SECONDS)).execute();
        } catch (IOException e) {
            throw BerthException.unavailable("cannot read the counters of network namespace %s: %s", netns, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw BerthException.unavailable("interrupted reading network namespace %s", netns);
        }
        if (r.timedOut()) {
            throw BerthException.unavailable("reading the counters of network namespace %s timed out", netns);
        }
        if (r.exitCode() != 0) {
            throw BerthException.notFound("network namespace %s cannot be entered (exit %d)", netns, r.exitCode());
        }
        return parse(r.stdout());
    }

    /** Parses the text of {@code /proc/net/dev} (two header lines, then "name: 16 counters"). */
    public static List<Usage.Interface> parse(String text) {
        List<Usage.Interface> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String name = line.substring(0, colon).trim();
            String[] f = line.substring(colon + 1).trim().split("\\s+");
            if (name.isEmpty() || f.length < 16) {
                continue;
            }
            try {
                out.add(new Usage.Interface(name, Long.parseLong(f[0]), Long.parseLong(f[1]), Long.parseLong(f[2]),
                        Long.parseLong(f[3]), Long.parseLong(f[8]), Long.parseLong(f[9]), Long.parseLong(f[10]),
                        Long.parseLong(f[11])));
            } catch (NumberFormatException e) {
                // not a counter line
            }
        }
        return out;
    }
}
