package dev.berth.cgroups.v1;

import dev.berth.cgroups.CgroupFiles;
import dev.berth.cgroups.Resources;
import dev.berth.cgroups.Controller;
import dev.berth.cgroups.StatsAccumulator;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** v1 {@code blkio}: per-device bytes and operations from the throttle accounting files. */
public final class BlkioController implements Controller {
    @Override
    public String name() {
        return "blkio";
    }

    @Override
    public void apply(Path dir, Resources r) {
    }

    @Override
    public void stats(String dir, StatsAccumulator out) {
        if (!read(dir + "blkio.throttle.io_service_bytes_recursive", 0, out)) {
            read(dir + "blkio.throttle.io_service_bytes", 0, out);
        }
        if (!read(dir + "blkio.throttle.io_serviced_recursive", 2, out)) {
            read(dir + "blkio.throttle.io_serviced", 2, out);
        }
    }

    /** Lines "MAJ:MIN Read N" / "MAJ:MIN Write N" into slots base (read) and base+1 (write). */
    private static boolean read(String file, int base, StatsAccumulator out) {
        int n = CgroupFiles.read(file);
        if (n < 0) {
            return false;
        }
        byte[] b = CgroupFiles.buffer();
        int line = 0;
        while (line < n) {
            int eol = line;
            while (eol < n && b[eol] != '\n') {
                eol++;
            }
            int s1 = line;
            while (s1 < eol && b[s1] != ' ') {
                s1++;
            }
            int s2 = s1 + 1;
            while (s2 < eol && b[s2] != ' ') {
                s2++;
            }
            if (s2 < eol && s1 > line) {
                int op = s1 + 1;
                int slot = b[op] == 'R' ? base : b[op] == 'W' && b[op + 1] == 'r' ? base + 1 : -1;
                if (slot >= 0) {
                    out.device(new String(b, line, s1 - line, StandardCharsets.US_ASCII))[slot] = CgroupFiles.parseLong(b, s2 + 1, eol);
                }
            }
            line = eol + 1;
        }
        return true;
    }
}
