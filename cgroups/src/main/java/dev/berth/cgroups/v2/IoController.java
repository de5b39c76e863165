package dev.berth.cgroups.v2;

import dev.berth.cgroups.CgroupFiles;
import dev.berth.cgroups.Resources;
import dev.berth.cgroups.Controller;
import dev.berth.cgroups.StatsAccumulator;
import java.nio.file.Path;

/**
 * v2 {@code io}: per-device bytes and operations from io.stat. CRI has no io fields of its
 * own; io.max and io.weight come through the unified map.
 */
public final class IoController implements Controller {
    @Override
    public String name() {
        return "io";
    }

    @Override
    public void apply(Path dir, Resources r) {
    }

    @Override
    public void stats(String dir, StatsAccumulator out) {
        int n = CgroupFiles.read(dir + "io.stat");
        if (n <= 0) {
            return;
        }
        byte[] b = CgroupFiles.buffer();
        int line = 0;
        while (line < n) {
            int eol = line;
            while (eol < n && b[eol] != '\n') {
                eol++;
            }
            int space = line;
            while (space < eol && b[space] != ' ') {
                space++;
            }
            if (space > line && space < eol) {
                long[] d = out.device(new String(b, line, space - line, java.nio.charset.StandardCharsets.US_ASCII));
                int i = space + 1;
                while (i < eol) {
                    int eq = i;
                    while (eq < eol && b[eq] != '=') {
                        eq++;
                    }
                    int end = eq;
                    while (end < eol && b[end] != ' ') {
                        end++;
                    }
                    if (eq < eol) {
                        int slot = slot(b, i, eq - i);
                        if (slot >= 0) {
                            d[slot] = CgroupFiles.parseLong(b, eq + 1, end);
                        }
                    }
                    i = end + 1;
                }
            }
            line = eol + 1;
        }
    }

    /** rbytes → 0, wbytes → 1, rios → 2, wios → 3; others (dbytes, dios) are ignored. */
    private static int slot(byte[] b, int at, int len) {
        if (len == 6 && b[at + 1] == 'b' && b[at + 2] == 'y') {
            return b[at] == 'r' ? 0 : b[at] == 'w' ? 1 : -1;
        }
        if (len == 4 && b[at + 1] == 'i' && b[at + 2] == 'o') {
            return b[at] == 'r' ? 2 : b[at] == 'w' ? 3 : -1;
        }
        return -1;
    }
}
