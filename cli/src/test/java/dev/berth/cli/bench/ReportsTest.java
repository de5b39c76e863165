package dev.berth.cli.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ReportsTest {
    static Results.Run run(String label, String name, double scale) {
        Map<String, Results.Call> calls = new LinkedHashMap<>();
        calls.put("RunPodSandbox", Results.Call.of("RunPodSandbox", List.of(100 * scale, 110 * scale, 120 * scale), 0, null));
        calls.put("ImageStatus", Results.Call.of("ImageStatus", List.of(2 * scale), 0, null));
        calls.put("Exec <odd> & \"quoted\"", Results.Call.of("Exec <odd> & \"quoted\"", List.of(), 2, "UNAVAILABLE: gone"));
        Map<String, Results.Throughput> throughput = new LinkedHashMap<>();
        throughput.put("PortForward stream (MB/s)", Results.Throughput.of("PortForward stream (MB/s)",
                List.of(400 / scale, 300 / scale, 350 / scale), 0, 64L << 20, 3 * (64L << 20), null));
        Results.Load load = new Results.Load(100, 10, 100, 40 * scale, 100 / (40 * scale), 15 * scale, 100 / (15 * scale), 0, 0.12);
        List<Results.MemoryPoint> memory = List.of(
                new Results.MemoryPoint("idle", 0, (long) (120 * scale * (1 << 20)), 0, 0),
                new Results.MemoryPoint("at 100 pods", 100, (long) (160 * scale * (1 << 20)), 40L << 20, 100));
        Map<String, Results.Call> first = new LinkedHashMap<>();
        first.put("connect", Results.Call.of("connect", List.of(0.5 * scale), 0, null));
        first.put("Version", Results.Call.of("Version", List.of(4 * scale), 0, null));
        first.put("ListPodSandbox", Results.Call.of("ListPodSandbox", List.of(3 * scale), 0, null));
        return new Results.Run(label, "unix:///run/" + name + ".sock", name, "1.0", 42, "0.10 0.20 0.30", "1.00 0.90 0.50", 60, 3.5,
                first, calls, throughput, load, memory, List.of("a note from " + name));
    }

    static Results.Bench bench(Results.Run... runs) {
        return new Results.Bench("abcd1234", "2026-01-01T00:00:00Z",
                new Results.Settings("registry.local/busybox:1", 3, 100, 10, "container", 0, 120, List.of("conmon"), 200, 2, "ba"),
                List.of(runs));
    }

    @Test
    void tableShowsPercentilesThroughputAndMemoryOfOneRuntime() {
        String t = Reports.table(bench(run("A", "berth", 1)));
        assertTrue(t.contains("A = berth 1.0 (unix:///run/berth.sock)"), t);
        assertTrue(t.contains("load average 0.10 0.20 0.30 -> 1.00 0.90 0.50"), t);
        String row = line(t, "RunPodSandbox");
        // n, err, p50, p95, p99
        assertEquals(List.of("RunPodSandbox", "3", "0", "110", "120", "120"), List.of(row.trim().split("\\s+")), t);
        assertEquals(List.of("started", "pods/s", "2.50"), List.of(line(t, "started pods/s").trim().split("\\s+")), t);
        assertTrue(line(t, "at 100 pods").trim().matches("at 100 pods\\s+160\\s+40\\s+100\\s+200"), t);
        assertTrue(line(t, "Exec <odd>").contains(" - "), t);
        // n, err, p50, min, max in MB/s
        assertEquals(List.of("PortForward", "stream", "(MB/s)", "3", "0", "350", "300", "400"),
                List.of(line(t, "PortForward stream").trim().split("\\s+")), t);
        assertTrue(t.contains("streams (MB/s)"), t);
        assertTrue(t.contains("note: a note from berth"), t);
        assertFalse(t.contains("A/B"), t);
    }

    @Test
    void withTwoRuntimesTheTableGivesARatioOfA_to_B() {
        String t = Reports.table(bench(run("A", "berth", 1), run("B", "containerd", 2)));
        assertTrue(t.contains("B = containerd 1.0 (unix:///run/containerd.sock)"), t);
        assertTrue(t.contains("A/B"), t);
        List<String> row = List.of(line(t, "RunPodSandbox").trim().split("\\s+"));
        // A n err p50 p95 p99, B n err p50 p95 p99, A/B of p50
        assertEquals(List.of("RunPodSandbox", "3", "0", "110", "120", "120", "3", "0", "220", "240", "240", "0.50"), row, t);
        assertTrue(line(t, "at 100 pods").trim().endsWith("0.56"), t); // 200 / 360 MB
        assertTrue(line(t, "PortForward stream").trim().endsWith(" 2.00"), t); // 350 / 175 MB/s
        assertTrue(t.contains("B: note: a note from containerd"), t);
    }

    @Test
    void jsonHoldsEverySampleAndNullForFiguresWithoutSamples() throws Exception {
        JsonNode j = new ObjectMapper().readTree(Reports.json(bench(run("A", "berth", 1))));
        JsonNode run = j.get("runs").get(0);
        assertEquals("berth", run.get("runtimeName").asText());
        JsonNode c = run.get("calls").get("RunPodSandbox");
        assertEquals(3, c.get("samplesMs").size());
        assertEquals(110.0, c.get("p50").asDouble());
        JsonNode failed = run.get("calls").get("Exec <odd> & \"quoted\"");
        assertEquals(2, failed.get("errors").asInt());
        assertTrue(failed.get("p50").isNull(), failed.toString());
        assertEquals("UNAVAILABLE: gone", failed.get("firstError").asText());
        assertEquals(160L << 20, run.get("memory").get(1).get("daemonPssBytes").asLong());
        assertEquals(100, run.get("load").get("running").asInt());
        JsonNode forward = run.get("throughput").get("PortForward stream (MB/s)");
        assertEquals(3, forward.get("samplesMbPerSecond").size());
        assertEquals(350.0, forward.get("p50").asDouble());
        assertEquals(3 * (64L << 20), forward.get("bytesVerified").asLong());
        assertEquals("container", j.get("settings").get("pidMode").asText());
    }

    @Test
    void htmlIsSelfContainedWithInlineSvgChartsAndEscapedText() {
        String h = Reports.html(bench(run("A", "berth", 1), run("B", "containerd", 2)));
        assertTrue(h.contains("<svg"), h);
        assertTrue(h.contains("class=\"b\""), h);
        assertFalse(h.contains("http://") || h.contains("https://"), h);
        assertFalse(h.contains("<script") || h.contains("@import") || h.contains("url("), h);
        assertTrue(h.contains("Exec &lt;odd&gt; &amp; &quot;quoted&quot;"), h);
        assertFalse(h.contains("<odd>"), h);
        assertTrue(h.contains("<td>0.50</td>"), h);
    }

    @Test
    void firstCallsHaveTheirOwnSectionAboveTheCallsWithOneSampleEachAndTheirRatio() {
        String t = Reports.table(bench(run("A", "berth", 1), run("B", "containerd", 2)));
        List<String> lines = t.lines().toList();
        int first = indexOf(lines, "first calls (ms)");
        int calls = indexOf(lines, "calls (ms)");
        assertTrue(first >= 0 && first < calls, t);
        assertEquals(List.of("first", "calls", "(ms)", "A", "ms", "B", "ms", "A/B"), List.of(lines.get(first).trim().split("\\s+")), t);
        assertEquals(List.of("connect", "0.50", "1", "0.50"), List.of(lines.get(first + 1).trim().split("\\s+")), t);
        assertEquals(List.of("Version", "4", "8", "0.50"), List.of(lines.get(first + 2).trim().split("\\s+")), t);
        assertEquals(List.of("ListPodSandbox", "3", "6", "0.50"), List.of(lines.get(first + 3).trim().split("\\s+")), t);
        assertEquals("", lines.get(first + 4), t);
        assertTrue(t.contains("(warm-up 3.5 s)"), t);
        assertTrue(t.contains("client warmed before each run: 200 rounds on a fake runtime; first calls; 200 rounds and 2 pods on the runtime,"
                + " not measured; order B then A"), t);

        String one = Reports.table(bench(run("A", "berth", 1)));
        assertEquals(List.of("Version", "4"), List.of(line(one, "Version").trim().split("\\s+")), one);

        String h = Reports.html(bench(run("A", "berth", 1), run("B", "containerd", 2)));
        assertTrue(h.contains("<h2>first calls (ms)</h2>"), h);
        assertTrue(h.contains("<tr><td>Version</td><td>4</td><td>8</td><td>0.50</td></tr>"), h);
    }

    @Test
    void jsonHoldsTheFirstCallsAndTheWarmUp() throws Exception {
        JsonNode j = new ObjectMapper().readTree(Reports.json(bench(run("A", "berth", 1))));
        JsonNode run = j.get("runs").get(0);
        assertEquals(4.0, run.get("firstCalls").get("Version").get("samplesMs").get(0).asDouble());
        assertEquals(1, run.get("firstCalls").get("Version").get("count").asInt());
        assertEquals(3.5, run.get("warmupSeconds").asDouble());
        assertEquals(200, j.get("settings").get("warmupRounds").asInt());
        assertEquals("ba", j.get("settings").get("order").asText());
    }

    private static int indexOf(List<String> lines, String start) {
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith(start)) {
                return i;
            }
        }
        return -1;
    }

    private static String line(String text, String start) {
        return text.lines().filter(l -> l.startsWith(start)).findFirst().orElseThrow(() -> new AssertionError(start + " not in\n" + text));
    }
}
