package dev.berth.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.common.Json;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The bench's results as a terminal table, JSON and a self-contained HTML page. With two runs
 * the table and the page set them side by side as A and B with the ratio A/B.
 */
final class Reports {
    private static final double MB = 1024 * 1024;

    /** The title of the section of the first calls after the bench connected to a runtime. */
    static final String FIRST_CALLS = "first calls (ms)";

    private Reports() {
    }

    /** One line of figures: a name, A's values and (with two runs) B's. */
    record Row(String name, double[] a, double[] b) {
    }

    /** A titled group of rows with its column headers (one per value). */
    record Section(String title, List<String> columns, List<Row> rows, String unit) {
    }

    /** The sections both renderings show: call latencies, stream throughput, the load phase, memory. */
    static List<Section> sections(Results.Bench bench) {
        List<Results.Run> runs = bench.runs();
        Results.Run a = runs.get(0);
        Results.Run b = runs.size() > 1 ? runs.get(1) : null;
        List<Section> out = new ArrayList<>();

        Set<String> firsts = new LinkedHashSet<>(a.firstCalls().keySet());
        if (b != null) {
            firsts.addAll(b.firstCalls().keySet());
        }
        List<Row> firstRows = new ArrayList<>();
        for (String c : firsts) {
            firstRows.add(new Row(c, firstValue(a.firstCalls().get(c)), b == null ? null : firstValue(b.firstCalls().get(c))));
        }
        out.add(new Section(FIRST_CALLS, List.of("ms"), firstRows, "ms"));

        Set<String> calls = new LinkedHashSet<>(a.calls().keySet());
        if (b != null) {
            calls.addAll(b.calls().keySet());
        }
        List<Row> callRows = new ArrayList<>();
        for (String c : calls) {
            callRows.add(new Row(c, callValues(a.calls().get(c)), b == null ? null : callValues(b.calls().get(c))));
        }
        out.add(new Section("calls (ms)", List.of("n", "err", "p50", "p95", "p99"), callRows, "ms"));

        Set<String> streams = new LinkedHashSet<>(a.throughput().keySet());
        if (b != null) {
            streams.addAll(b.throughput().keySet());
        }
        List<Row> streamRows = new ArrayList<>();
        for (String t : streams) {
            streamRows.add(new Row(t, rateValues(a.throughput().get(t)), b == null ? null : rateValues(b.throughput().get(t))));
        }
        out.add(new Section("streams (MB/s)", List.of("n", "err", "p50", "min", "max"), streamRows, "MB/s"));

        List<Row> loadRows = new ArrayList<>();
        if (a.load() != null || b != null && b.load() != null) {
            loadRows.add(new Row("pods running", new double[] {loadValue(a, "running")}, b == null ? null : new double[] {loadValue(b, "running")}));
            loadRows.add(new Row("start all (s)", new double[] {loadValue(a, "start")}, b == null ? null : new double[] {loadValue(b, "start")}));
            loadRows.add(new Row("started pods/s", new double[] {loadValue(a, "startRate")}, b == null ? null : new double[] {loadValue(b, "startRate")}));
            loadRows.add(new Row("remove all (s)", new double[] {loadValue(a, "remove")}, b == null ? null : new double[] {loadValue(b, "remove")}));
            loadRows.add(new Row("removed pods/s", new double[] {loadValue(a, "removeRate")}, b == null ? null : new double[] {loadValue(b, "removeRate")}));
            loadRows.add(new Row("errors", new double[] {loadValue(a, "errors")}, b == null ? null : new double[] {loadValue(b, "errors")}));
            loadRows.add(new Row("daemon CPU s/pod", new double[] {loadValue(a, "cpu")}, b == null ? null : new double[] {loadValue(b, "cpu")}));
        }
        Results.Load la = a.load() != null ? a.load() : b != null ? b.load() : null;
        String loadTitle = la == null ? "load" : "load: " + la.pods() + " pods by " + la.concurrency() + " clients";
        out.add(new Section(loadTitle, List.of("value"), loadRows, ""));

        Set<String> labels = new LinkedHashSet<>();
        a.memory().forEach(m -> labels.add(m.label()));
        if (b != null) {
            b.memory().forEach(m -> labels.add(m.label()));
        }
        List<Row> memRows = new ArrayList<>();
        for (String l : labels) {
            memRows.add(new Row(l, memValues(a, l), b == null ? null : memValues(b, l)));
        }
        out.add(new Section("memory (PSS, MB)", List.of("daemon", "helpers", "n", "total"), memRows, "MB"));
        return out;
    }

    /** The one sample of a first call (NaN when it failed or was not made). */
    private static double[] firstValue(Results.Call c) {
        return new double[] {c == null || c.count() == 0 ? Double.NaN : c.samplesMs().get(0)};
    }

    private static double[] callValues(Results.Call c) {
        if (c == null) {
            return new double[] {Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN};
        }
        return new double[] {c.count(), c.errors(), c.p50(), c.p95(), c.p99()};
    }

    private static double[] rateValues(Results.Throughput t) {
        if (t == null) {
            return new double[] {Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN};
        }
        return new double[] {t.count(), t.errors(), t.p50(), t.min(), t.max()};
    }

    private static double loadValue(Results.Run r, String what) {
        Results.Load l = r.load();
        if (l == null) {
            return Double.NaN;
        }
        return switch (what) {
            case "running" -> l.running();
            case "start" -> l.startWallSeconds();
            case "startRate" -> l.podsPerSecond();
            case "remove" -> l.removeWallSeconds();
            case "removeRate" -> l.removedPerSecond();
            case "errors" -> l.errors();
            default -> l.daemonCpuSecondsPerPod();
        };
    }

    private static double[] memValues(Results.Run r, String label) {
        for (Results.MemoryPoint m : r.memory()) {
            if (m.label().equals(label)) {
                return new double[] {mb(m.daemonPssBytes()), mb(m.helpersPssBytes()), m.helperCount(), m.totalBytes() / MB};
            }
        }
        return new double[] {Double.NaN, Double.NaN, Double.NaN, Double.NaN};
    }

    private static double mb(long bytes) {
        return bytes < 0 ? Double.NaN : bytes / MB;
    }

    /** The column of a section that the A/B ratio and the charts use: p50 for calls and streams, the total for memory, the value otherwise. */
    static int keyColumn(Section s) {
        return s.columns().size() == 5 ? 2 : s.columns().size() - 1;
    }

    static String fmt(double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            return "-";
        }
        if (v == Math.rint(v) && Math.abs(v) < 1e9) {
            return String.format(Locale.ROOT, "%d", (long) v);
        }
        return String.format(Locale.ROOT, Math.abs(v) >= 100 ? "%.0f" : Math.abs(v) >= 10 ? "%.1f" : "%.2f", v);
    }

    static String ratio(double a, double b) {
        if (Double.isNaN(a) || Double.isNaN(b) || b == 0) {
            return "-";
        }
        return String.format(Locale.ROOT, "%.2f", a / b);
    }

    /** Who A and B are: the runtime's name and version from Version, and the endpoint. */
    static String who(Results.Run r) {
        return r.label() + " = " + (r.runtimeName().isEmpty() ? "?" : r.runtimeName()) + " " + r.runtimeVersion() + " (" + r.endpoint() + ")";
    }

    static String table(Results.Bench bench) {
        StringBuilder out = new StringBuilder();
        boolean two = bench.runs().size() > 1;
        for (Results.Run r : bench.runs()) {
            out.append(who(r)).append(String.format(Locale.ROOT, "  %.0f s (warm-up %.1f s), load average %s -> %s%n", r.wallSeconds(),
                    r.warmupSeconds(), r.loadAverageStart(), r.loadAverageEnd()));
        }
        out.append(String.format(Locale.ROOT, "image %s, %d iterations, %d pods by %d clients, pid %s, StopContainer timeout %d s%n",
                bench.settings().image(), bench.settings().iterations(), bench.settings().pods(), bench.settings().concurrency(),
                bench.settings().pidMode(), bench.settings().stopTimeoutSeconds()));
        out.append(warmupLine(bench)).append('\n');
        for (Section s : sections(bench)) {
            if (s.rows().isEmpty()) {
                continue;
            }
            int nameWidth = Math.max(s.title().length(), s.rows().stream().mapToInt(r -> r.name().length()).max().orElse(10)) + 2;
            List<String> head = new ArrayList<>();
            for (String c : s.columns()) {
                head.add((two ? "A " : "") + c);
            }
            if (two) {
                for (String c : s.columns()) {
                    head.add("B " + c);
                }
                head.add("A/B");
            }
            out.append('\n').append(pad(s.title(), nameWidth));
            for (String h : head) {
                out.append(String.format("%10s", h));
            }
            out.append('\n');
            for (Row r : s.rows()) {
                out.append(pad(r.name(), nameWidth));
                for (double v : r.a()) {
                    out.append(String.format("%10s", fmt(v)));
                }
                if (two) {
                    for (double v : r.b()) {
                        out.append(String.format("%10s", fmt(v)));
                    }
                    int k = keyColumn(s);
                    out.append(String.format("%10s", ratio(r.a()[k], r.b()[k])));
                }
                out.append('\n');
            }
        }
        for (Results.Run r : bench.runs()) {
            for (String n : r.notes()) {
                out.append(two ? r.label() + ": " : "").append("note: ").append(n).append('\n');
            }
        }
        return out.toString();
    }

    /** How the client was warmed and which runtime ran first. */
    static String warmupLine(Results.Bench bench) {
        Results.Settings s = bench.settings();
        String w = s.warmupRounds() == 0 ? "no client warm-up"
                : String.format(Locale.ROOT, "client warmed before each run: %d rounds on a fake runtime; first calls; %d rounds and %d pods on the runtime,"
                        + " not measured", s.warmupRounds(), s.warmupRounds(), s.warmupPods());
        return bench.runs().size() > 1 ? w + "; order " + (s.order().equals("ba") ? "B then A" : "A then B") : w;
    }

    private static String pad(String s, int width) {
        return s.length() >= width ? s + " " : s + " ".repeat(width - s.length());
    }

    /** JSON of the whole bench; figures that do not exist (no samples) are null. */
    static String json(Results.Bench bench) {
        try {
            JsonNode tree = Json.mapper().valueToTree(bench);
            return Json.mapper().writerWithDefaultPrettyPrinter().writeValueAsString(nanToNull(tree)) + "\n";
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot write the results as JSON", e);
        }
    }

    private static JsonNode nanToNull(JsonNode n) {
        if (n.isDouble() && (Double.isNaN(n.doubleValue()) || Double.isInfinite(n.doubleValue()))) {
            return NullNode.getInstance();
        }
        if (n instanceof ObjectNode o) {
            for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                e.setValue(nanToNull(e.getValue()));
            }
        } else if (n instanceof ArrayNode a) {
            for (int i = 0; i < a.size(); i++) {
                a.set(i, nanToNull(a.get(i)));
            }
        }
        return n;
    }

    /** A page with no scripts, fonts or images from anywhere: the tables, and one inline SVG bar chart per section. */
    static String html(Results.Bench bench) {
        boolean two = bench.runs().size() > 1;
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>berth bench ").append(esc(bench.runId())).append("</title>\n")
                .append("<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
                        + "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
                        + ".a{fill:#3b6fb6}.b{fill:#e08a2c}svg text{font:12px sans-serif}</style></head><body>\n")
                .append("<h1>berth bench</h1>\n<p>run ").append(esc(bench.runId())).append(", ").append(esc(bench.startedAt()))
                .append(String.format(Locale.ROOT, "; image %s, %d iterations, %d pods by %d clients, pid %s, StopContainer timeout %d s</p>%n",
                        esc(bench.settings().image()), bench.settings().iterations(), bench.settings().pods(), bench.settings().concurrency(),
                        esc(bench.settings().pidMode()), bench.settings().stopTimeoutSeconds()))
                .append("<p>").append(esc(warmupLine(bench))).append("</p>\n")
                .append("<ul>\n");
        for (Results.Run r : bench.runs()) {
            h.append("<li>").append(esc(who(r))).append(", load average ").append(esc(r.loadAverageStart())).append(" &rarr; ")
                    .append(esc(r.loadAverageEnd())).append("</li>\n");
        }
        h.append("</ul>\n");
        for (Section s : sections(bench)) {
            if (s.rows().isEmpty()) {
                continue;
            }
            h.append("<h2>").append(esc(s.title())).append("</h2>\n");
            h.append(chart(s, two));
            h.append("<table><tr><th></th>");
            for (String c : s.columns()) {
                h.append("<th>").append(two ? "A " : "").append(esc(c)).append("</th>");
            }
            if (two) {
                for (String c : s.columns()) {
                    h.append("<th>B ").append(esc(c)).append("</th>");
                }
                h.append("<th>A/B</th>");
            }
            h.append("</tr>\n");
            for (Row r : s.rows()) {
                h.append("<tr><td>").append(esc(r.name())).append("</td>");
                for (double v : r.a()) {
                    h.append("<td>").append(fmt(v)).append("</td>");
                }
                if (two) {
                    for (double v : r.b()) {
                        h.append("<td>").append(fmt(v)).append("</td>");
                    }
                    h.append("<td>").append(ratio(r.a()[keyColumn(s)], r.b()[keyColumn(s)])).append("</td>");
                }
                h.append("</tr>\n");
            }
            h.append("</table>\n");
        }
        for (Results.Run r : bench.runs()) {
            for (String n : r.notes()) {
                h.append("<p>").append(esc(r.label())).append(": ").append(esc(n)).append("</p>\n");
            }
        }
        h.append("</body></html>\n");
        return h.toString();
    }

    /** Horizontal bars of a section's key column, A above B, each labelled with its value; rows without a value are left out. */
    private static String chart(Section s, boolean two) {
        int k = keyColumn(s);
        List<Row> rows = s.rows().stream().filter(r -> !Double.isNaN(r.a()[k]) || two && !Double.isNaN(r.b()[k])).toList();
        double max = 0;
        for (Row r : rows) {
            max = Math.max(max, nz(r.a()[k]));
            if (two) {
                max = Math.max(max, nz(r.b()[k]));
            }
        }
        if (rows.isEmpty() || max <= 0) {
            return "";
        }
        int labelWidth = 220;
        int barWidth = 480;
        int bar = 14;
        int rowHeight = two ? 2 * bar + 8 : bar + 8;
        int height = rows.size() * rowHeight + 24;
        StringBuilder svg = new StringBuilder();
        svg.append(String.format(Locale.ROOT, "<svg width=\"%d\" height=\"%d\" role=\"img\">%n",
                labelWidth + barWidth + 80, height));
        svg.append(String.format(Locale.ROOT, "<text x=\"0\" y=\"14\">%s%s</text>%n", esc(s.columns().get(k)),
                two ? " (A blue, B orange)" : ""));
        int y = 24;
        for (Row r : rows) {
            svg.append(String.format(Locale.ROOT, "<text x=\"0\" y=\"%d\">%s</text>%n", y + bar - 2, esc(r.name())));
            y = bar(svg, "a", r.a()[k], max, labelWidth, barWidth, y, bar);
            if (two) {
                y = bar(svg, "b", r.b()[k], max, labelWidth, barWidth, y, bar);
            }
            y += rowHeight - (two ? 2 * bar : bar);
        }
        svg.append("</svg>\n");
        return svg.toString();
    }

    private static int bar(StringBuilder svg, String cls, double v, double max, int x, int width, int y, int h) {
        double w = nz(v) / max * width;
        svg.append(String.format(Locale.ROOT, "<rect class=\"%s\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>", cls, x, y, w, h - 2));
        svg.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\">%s</text>%n", x + w + 4, y + h - 3, fmt(v)));
        return y + h;
    }

    private static double nz(double v) {
        return Double.isNaN(v) || v < 0 ? 0 : v;
    }

    static String esc(String s) {
        return s == null ? "" : s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
