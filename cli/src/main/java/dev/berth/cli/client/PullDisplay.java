package dev.berth.cli.client;

import dev.berth.cri.berth.v1.LayerProgress;
import dev.berth.cri.berth.v1.PullStatus;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code berth pull} shows while a pull runs, on stderr (stdout keeps only the result).
 * On a terminal a block of lines redrawn in place: the image and the time elapsed, and, when
 * the runtime offers berth's PullProgress side channel, one line per layer with its state and
 * bytes. Elsewhere plain lines with no escape codes: one when the pull starts, one per layer
 * state change, none with {@code --quiet}.
 */
final class PullDisplay {
    /** How progress is shown. */
    enum Mode { TTY, PLAIN, QUIET }

    private final PrintWriter err;
    private final Mode mode;
    private final String image;
    private int drawn;
    private final Map<String, String> lastStates = new HashMap<>();

    PullDisplay(PrintWriter err, Mode mode, String image) {
        this.err = err;
        this.mode = mode;
        this.image = image;
    }

    /** The pull began. */
    void started() {
        if (mode == Mode.PLAIN) {
            err.println("Pulling " + image);
            err.flush();
        }
    }

    /** Shows the pull as it stands; {@code status} null when the runtime gives no detail (yet). */
    void update(Duration elapsed, PullStatus status) {
        switch (mode) {
            case TTY -> redraw(lines(image, elapsed, status));
            case PLAIN -> {
                if (status != null) {
                    for (String l : changes(status)) {
                        err.println(l);
                    }
                    err.flush();
                }
            }
            case QUIET -> {
            }
        }
    }

    /** The pull ended: the block stays as last drawn, the cursor below it. */
    void finished(Duration elapsed, PullStatus status, boolean ok) {
        if (mode == Mode.TTY) {
            redraw(lines(image, elapsed, status));
        } else {
            update(elapsed, status);
        }
        if (mode == Mode.PLAIN && ok) {
            err.println("Pulled " + image + " in " + seconds(elapsed));
            err.flush();
        }
    }

    private void redraw(List<String> lines) {
        StringBuilder b = new StringBuilder();
        if (drawn > 0) {
            b.append("\033[").append(drawn).append('A'); // back to the block's first line
        }
        for (String l : lines) {
            b.append('\r').append("\033[2K").append(l).append('\n');
        }
        for (int i = lines.size(); i < drawn; i++) {
            b.append("\033[2K\n"); // a shorter block: blank what remains of the longer one
        }
        drawn = Math.max(drawn, lines.size());
        err.print(b);
        err.flush();
    }

    /** The block a terminal shows: a header, then one line per layer. */
    static List<String> lines(String image, Duration elapsed, PullStatus s) {
        List<String> out = new ArrayList<>();
        if (s == null || s.getLayersCount() == 0 && s.getTotalBytes() == 0) {
            out.add("Pulling " + image + " " + seconds(elapsed) + (s == null ? "" : " (resolving)"));
            return out;
        }
        out.add("Pulling " + image + " " + seconds(elapsed) + "  " + Output.size(s.getDoneBytes()) + " / " + Output.size(s.getTotalBytes()));
        for (LayerProgress l : s.getLayersList()) {
            out.add(String.format(Locale.ROOT, "  %s  %-11s %s", Output.shortId(l.getDigest()), state(l), bytes(l)));
        }
        return out;
    }

    /** The plain lines for layers whose state changed since the last call. */
    List<String> changes(PullStatus s) {
        List<String> out = new ArrayList<>();
        for (LayerProgress l : s.getLayersList()) {
            String st = state(l);
            if (!st.equals(lastStates.put(l.getDigest(), st))) {
                out.add(Output.shortId(l.getDigest()) + ": " + st + " " + Output.size(l.getSize()));
            }
        }
        return out;
    }

    static String state(LayerProgress l) {
        return switch (l.getState()) {
            case LAYER_WAITING -> "waiting";
            case LAYER_DOWNLOADING -> "downloading";
            case LAYER_EXTRACTING -> "extracting";
            case LAYER_DONE -> "done";
            case LAYER_EXISTS -> "exists";
            default -> "unknown";
        };
    }

    private static String bytes(LayerProgress l) {
        return switch (l.getState()) {
            case LAYER_DOWNLOADING -> Output.size(l.getDone()) + " / " + Output.size(l.getSize());
            default -> Output.size(l.getSize());
        };
    }

    static String seconds(Duration d) {
        return String.format(Locale.ROOT, "%.1fs", d.toMillis() / 1000.0);
    }
}
