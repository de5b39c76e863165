package dev.berth.networking.cni;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Tells whether a path is (still) a network namespace: an nsfs file mounted there. */
final class NetnsPaths {
    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");

    private NetnsPaths() {
    }

    static boolean isNetns(Path path) {
        if (path == null || !Files.exists(path)) {
            return false;
        }
        String target;
        try {
            target = path.toRealPath().toString();
        } catch (IOException e) {
            return false;
        }
        try {
            for (String line : Files.readAllLines(MOUNTINFO, StandardCharsets.UTF_8)) {
                String[] f = line.split(" ");
                if (f.length < 5 || !unescape(f[4]).equals(target)) {
                    continue;
                }
                int sep = line.indexOf(" - ");
                if (sep >= 0 && line.substring(sep + 3).startsWith("nsfs ")) {
                    return true;
                }
            }
        } catch (IOException e) {
            // without mountinfo the path is taken at its word
            return true;
        }
        return false;
    }

    private static String unescape(String s) {
        if (!s.contains("\\")) {
            return s;
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length()) {
                sb.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}
