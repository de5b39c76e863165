package dev.berth.podsandbox.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cgroups.Cgroups;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The handler probe with the real runtimes: runc runs its minimal container here; crun 1.8
 * refuses every container on a hybrid cgroup host and is found unavailable with its own
 * words; a binary that is no runtime is unavailable; nothing of the probes is left.
 */
@Tag("root")
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class HandlerProbesTest {
    @TempDir
    Path dir;

    /** crun 1.8 refuses a host whose unified hierarchy has controllers while v1 ones are mounted too. */
    static boolean hybridWithV2Controllers() throws IOException {
        Path controllers = Path.of("/sys/fs/cgroup/unified/cgroup.controllers");
        return Files.exists(controllers) && !Files.readString(controllers).isBlank();
    }

    static List<Path> leftoverCgroups() throws IOException {
        List<Path> out = new ArrayList<>();
        try (Stream<Path> hierarchies = Files.list(Path.of("/sys/fs/cgroup"))) {
            for (Path h : hierarchies.toList()) {
                for (Path p : List.of(h, h.getParent())) {
                    try (Stream<Path> s = Files.list(p)) {
                        s.filter(c -> c.getFileName().toString().startsWith("berth-handler-probe-")).forEach(out::add);
                    } catch (IOException notADirectory) {
                        // a file of the root hierarchy
                    }
                }
            }
        }
        return out;
    }

    @Test
    void runcRunsItsProbeCrunIsRefusedOnAHybridHostAndNothingIsLeft() throws Exception {
        Path runtimes = dir.resolve("runtimes");
        RuntimeHandlers handlers = new RuntimeHandlers(Map.of("runc", "runc", "crun", "crun", "broken", "/bin/false"),
                "runc", ConmonRuntime.factory(Path.of("/usr/bin/conmon"), runtimes, Duration.ofSeconds(60),
                b -> Files.exists(Path.of("/usr/bin", b)) ? Path.of("/usr/bin", b) : Path.of("/usr/sbin", b)));
        List<String> featuresAskedOf = new ArrayList<>();
        Cgroups cgroups = Cgroups.detect("cgroupfs");
        HandlerProbes probes = HandlerProbes.start(handlers.names(), HandlerProbes.containers(handlers,
                dir.resolve("probes"), cgroups::remove, binary -> {
                    featuresAskedOf.add(binary);
                    return new HandlerProbes.Features(true, false);
                }), Runnable::run);
        assertTrue(probes.done());
        Map<String, HandlerProbes.Result> r = probes.results();

        assertEquals(HandlerProbes.State.AVAILABLE, r.get("runc").state(), r.toString());
        assertEquals(new HandlerProbes.Features(true, false), r.get("runc").features());
        assertTrue(featuresAskedOf.stream().anyMatch(b -> b.endsWith("/runc")), featuresAskedOf.toString());

        assertEquals(HandlerProbes.State.UNAVAILABLE, r.get("broken").state(), r.toString());
        if (hybridWithV2Controllers()) {
            assertEquals(HandlerProbes.State.UNAVAILABLE, r.get("crun").state(), r.toString());
            assertTrue(r.get("crun").reason().contains("cgroups in hybrid mode not supported"), r.get("crun").reason());
            assertFalse(featuresAskedOf.stream().anyMatch(b -> b.endsWith("/crun")), "no features of a handler that cannot run");
        } else {
            assertEquals(HandlerProbes.State.AVAILABLE, r.get("crun").state(), r.toString());
        }

        assertEquals(List.of(), leftoverCgroups(), "the probe cgroups are removed");
        try (Stream<Path> s = Files.list(dir.resolve("probes"))) {
            assertEquals(List.of("rootfs"), s.map(p -> p.getFileName().toString()).toList(), "only the shared rootfs stays");
        }
        for (String h : List.of("runc", "crun")) {
            Path root = runtimes.resolve(h);
            if (Files.isDirectory(root)) {
                try (Stream<Path> s = Files.list(root)) {
                    assertEquals(List.of(), s.filter(p -> p.getFileName().toString().startsWith("berth-handler-probe"))
                            .toList(), h + " keeps no probe container");
                }
            }
        }
    }
}
