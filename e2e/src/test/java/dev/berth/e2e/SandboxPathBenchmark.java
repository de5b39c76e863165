package dev.berth.e2e;

import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * RunPodSandbox, StopPodSandbox and RemovePodSandbox of pods on the default bridge network
 * (CNI), pid CONTAINER (what a kubelet sends) and pid POD (what critest sends), measured (not
 * asserted): medians of 20 sequential pods after 5 for warm-up, with the medians of berth's own
 * debug step timings. Run with {@code -Dberth.benchmark=true}; the figures go to stdout and
 * {@code target/sandbox-path-benchmark.txt}.
 */
@EnabledIfSystemProperty(named = "berth.benchmark", matches = "true")
@Tag("root")
class SandboxPathBenchmark {
    private static final String BRIDGE = "berthsp0";
    private static final int WARM = 5;
    private static final int RUNS = 20;

    @TempDir
    Path dir;

    @Test
    void runStopRemoveMedians() throws Exception {
        Path config = dir.resolve("sp.toml");
        Files.writeString(config, "[network]\n"
                + "cni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\n"
                + "default_subnet = \"10.196.32.0/20\"\n"
                + "[metrics]\naddress = \"\"\n");
        StringBuilder report = new StringBuilder();
        try (BerthProcess berth = BerthProcess.start(dir.resolve("b"), "--config", config.toString(),
                "--log-level", "debug")) {
            for (NamespaceMode pid : List.of(NamespaceMode.CONTAINER, NamespaceMode.POD)) {
                List<Long> run = new ArrayList<>();
                List<Long> stop = new ArrayList<>();
                List<Long> remove = new ArrayList<>();
                int logFrom = 0;
                for (int i = 0; i < WARM + RUNS; i++) {
                    if (i == WARM) {
                        logFrom = berth.logText().length();
                    }
                    RunPodSandboxRequest r = podNetworkPod("sp-" + pid + "-" + i, pid);
                    long t0 = System.nanoTime();
                    String id = berth.runtime().runPodSandbox(r).getPodSandboxId();
                    long t1 = System.nanoTime();
                    berth.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
                    long t2 = System.nanoTime();
                    berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
                    long t3 = System.nanoTime();
                    if (i >= WARM) {
                        run.add(t1 - t0);
                        stop.add(t2 - t1);
                        remove.add(t3 - t2);
                    }
                }
                report.append(String.format("pid %s, %d pods: RunPodSandbox p50 %.1f ms, StopPodSandbox p50 %.1f ms, "
                        + "RemovePodSandbox p50 %.1f ms%n", pid, RUNS, p50(run), p50(stop), p50(remove)));
                String log = berth.logText().substring(logFrom);
                report.append("  run steps (p50 wall ms): ").append(steps(log, "run \\(wall/cpu\\): ")).append('\n');
                report.append("  CNI ADD steps: ").append(steps(log, "attached to network \\S+: \\S+ \\(")).append('\n');
                report.append("  CNI DEL steps: ").append(steps(log, "detached from network \\S+ \\(")).append('\n');
                report.append("  stop steps: ").append(steps(log, "stop \\(wall/cpu\\): ")).append('\n');
                report.append("  remove steps: ").append(steps(log, "remove \\(wall/cpu\\): ")).append('\n');
            }
            for (PodSandbox p : berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
            }
        } finally {
            if (Files.exists(Path.of("/sys/class/net/" + BRIDGE))) {
                new ProcessBuilder("ip", "link", "delete", BRIDGE).start().waitFor();
            }
        }
        System.out.print(report);
        Path out = Path.of("target/sandbox-path-benchmark.txt");
        Files.createDirectories(out.getParent());
        Files.writeString(out, report.toString());
    }

    private static RunPodSandboxRequest podNetworkPod(String name, NamespaceMode pid) {
        RunPodSandboxRequest host = PodSandboxE2eTest.hostNetworkPod(name, pid);
        return host.toBuilder().setConfig(host.getConfig().toBuilder().setLinux(host.getConfig().getLinux().toBuilder()
                .setSecurityContext(host.getConfig().getLinux().getSecurityContext().toBuilder()
                        .setNamespaceOptions(host.getConfig().getLinux().getSecurityContext().getNamespaceOptions().toBuilder()
                                .setNetwork(NamespaceMode.POD))))).build();
    }

    /** The median wall time of each step named in the log lines that {@code prefix} introduces. */
    private static String steps(String log, String prefix) {
        Map<String, List<Double>> byStep = new LinkedHashMap<>();
        Matcher line = Pattern.compile(prefix + "([^\\n]*)").matcher(log);
        Pattern step = Pattern.compile("([^,]+?) ([0-9.]+)/[0-9.]+ ms");
        while (line.find()) {
            Matcher s = step.matcher(line.group(1));
            while (s.find()) {
                byStep.computeIfAbsent(s.group(1).strip(), k -> new ArrayList<>()).add(Double.parseDouble(s.group(2)));
            }
        }
        StringBuilder b = new StringBuilder();
        byStep.forEach((k, v) -> {
            Collections.sort(v);
            b.append(String.format("%s %.1f, ", k, v.get(v.size() / 2)));
        });
        return b.toString();
    }

    private static double p50(List<Long> nanos) {
        List<Long> sorted = new ArrayList<>(nanos);
        Collections.sort(sorted);
        return sorted.get(sorted.size() / 2) / 1e6;
    }
}
