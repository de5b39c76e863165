package dev.berth.podsandbox.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cgroups.Cgroups;
import dev.berth.host.MountTable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The handler probe with the real runtimes: runc runs its minimal containers here and is seen
 * to make a recursive read-only mount read-only with its submount and to run a container in a
 * pod-like user namespace; a runc wrapper that quietly drops both from the bundle is found to
 * support neither, with the reason; one whose features document lacks both is not tried for
 * them; crun 1.8 refuses every container on a hybrid cgroup host and is found unavailable with
 * its own words; a binary that is no runtime is unavailable; nothing of the probes is left,
 * also when the probes are closed while one runs.
 */
@Tag("root")
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class HandlerProbesTest {
    @TempDir
    Path dir;
    Path probesDir;
    Path runtimes;

    @BeforeEach
    void traversable() throws IOException {
        // the runtime resolves the probe's root from inside its user namespace, as any user
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
        probesDir = dir.resolve("probes");
        runtimes = dir.resolve("runtimes");
    }

    /** crun 1.8 refuses a host whose unified hierarchy has controllers while v1 ones are mounted too. */
    static boolean hybridWithV2Controllers() throws IOException {
        Path controllers = Path.of("/sys/fs/cgroup/unified/cgroup.controllers");
        return Files.exists(controllers) && !Files.readString(controllers).isBlank();
    }

    /** The cgroups of this test's probes (named after its probe directory) in every hierarchy. */
    List<Path> leftoverCgroups() throws IOException {
        String suffix = HandlerProbes.cgroup(probesDir, "").substring(1);
        List<Path> out = new ArrayList<>();
        try (Stream<Path> hierarchies = Files.list(Path.of("/sys/fs/cgroup"))) {
            for (Path h : hierarchies.toList()) {
                for (Path p : List.of(h, h.getParent())) {
                    try (Stream<Path> s = Files.list(p)) {
                        s.filter(c -> c.getFileName().toString().startsWith("berth-handler-probe-")
                                && c.getFileName().toString().endsWith(suffix)).forEach(out::add);
                    } catch (IOException notADirectory) {
                        // a file of the root hierarchy
                    }
                }
            }
        }
        return out;
    }

    Path script(String name, String body) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, "#!/bin/sh\n" + body);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        return p;
    }

    RuntimeHandlers handlers(Map<String, String> binaries) {
        return new RuntimeHandlers(binaries, "runc", ConmonRuntime.factory(Path.of("/usr/bin/conmon"), runtimes,
                Duration.ofSeconds(60), b -> b.startsWith("/") ? Path.of(b)
                        : Files.exists(Path.of("/usr/bin", b)) ? Path.of("/usr/bin", b) : Path.of("/usr/sbin", b)));
    }

    void assertNothingLeft(List<String> handlerNames) throws IOException {
        assertEquals(List.of(), leftoverCgroups(), "the probe cgroups are removed");
        assertEquals(List.of(), MountTable.mountPointsUnder(probesDir), "no probe mount or namespace pin is left");
        try (Stream<Path> s = Files.list(probesDir)) {
            assertEquals(List.of("rootfs"), s.map(p -> p.getFileName().toString()).toList(), "only the shared rootfs stays");
        }
        for (String h : handlerNames) {
            Path root = runtimes.resolve(h);
            if (Files.isDirectory(root)) {
                try (Stream<Path> s = Files.list(root)) {
                    assertEquals(List.of(), s.filter(p -> p.getFileName().toString().startsWith("berth-handler-probe"))
                            .toList(), h + " keeps no probe container");
                }
            }
        }
    }

    @Test
    void eachHandlersFeaturesAreWhatItsContainersDoAndNothingIsLeft() throws Exception {
        // runc, but the bundle it runs has no user namespace and no rro: it "supports" both on paper only
        Path strip = script("runc-strip", """
                b=; prev=
                for a in "$@"; do [ "$prev" = --bundle ] && b=$a; prev=$a; done
                if [ -n "$b" ]; then
                  jq -c 'del(.linux.uidMappings, .linux.gidMappings) | .linux.namespaces |= map(select(.type != "user"))
                    | .mounts |= map(if .options then .options |= map(select(. != "rro")) else . end)' \\
                    "$b/config.json" > "$b/config.json.new" && mv "$b/config.json.new" "$b/config.json" || exit 1
                fi
                exec runc "$@"
                """);
        // runc whose features document lists neither rro nor the user namespace; it logs what it is asked
        Path modestLog = dir.resolve("modest.log");
        Path modest = script("runc-modest", """
                echo "$*" >> %s
                if [ "$1" = features ]; then
                  runc features | jq -c '.mountOptions |= map(select(. != "rro")) | .linux.namespaces |= map(select(. != "user"))'
                  exit
                fi
                exec runc "$@"
                """.formatted(modestLog));
        RuntimeHandlers handlers = handlers(Map.of("runc", "runc", "crun", "crun", "broken", "/bin/false",
                "strip", strip.toString(), "modest", modest.toString()));
        Cgroups cgroups = Cgroups.detect("cgroupfs");
        HandlerProbes.Probe real = HandlerProbes.containers(handlers, probesDir, cgroups::remove, RuntimeFeatures::probe);
        HandlerProbes probes = HandlerProbes.start(handlers.names(), h -> {
            long began = System.nanoTime();
            HandlerProbes.Result result = real.probe(h);
            // what each probe costs (measured, not asserted)
            System.out.printf("probed %s in %d ms%n", h, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began));
            return result;
        }, Runnable::run);
        assertTrue(probes.done());
        Map<String, HandlerProbes.Result> r = probes.results();

        assertEquals(HandlerProbes.State.AVAILABLE, r.get("runc").state(), r.toString());
        assertEquals(new HandlerProbes.Features(true, true), r.get("runc").features(), r.get("runc").toString());
        assertEquals(Map.of(), r.get("runc").unsupported());
        assertEquals(Optional.of(true), probes.recursiveReadOnlyMounts("runc"), "what create asks");

        HandlerProbes.Result stripped = r.get("strip");
        assertEquals(HandlerProbes.State.AVAILABLE, stripped.state(), r.toString());
        assertEquals(HandlerProbes.Features.NONE, stripped.features(), stripped.toString());
        assertTrue(stripped.unsupported().get(HandlerProbes.RECURSIVE_READ_ONLY_MOUNTS).contains("ignored rro"), stripped.toString());
        assertTrue(stripped.unsupported().get(HandlerProbes.USER_NAMESPACES)
                .contains("did not run in the user namespace it was given"), stripped.toString());
        assertEquals(Optional.of(false), probes.recursiveReadOnlyMounts("strip"));

        HandlerProbes.Result modestResult = r.get("modest");
        assertEquals(HandlerProbes.State.AVAILABLE, modestResult.state(), r.toString());
        assertEquals(HandlerProbes.Features.NONE, modestResult.features(), modestResult.toString());
        assertTrue(modestResult.unsupported().get(HandlerProbes.RECURSIVE_READ_ONLY_MOUNTS).contains("does not list the rro"),
                modestResult.toString());
        assertTrue(modestResult.unsupported().get(HandlerProbes.USER_NAMESPACES).contains("does not list the user namespace"),
                modestResult.toString());
        List<String> runs = Files.readAllLines(modestLog).stream().filter(l -> l.contains(" run ")).toList();
        assertEquals(1, runs.size(), "what the document rules out is not tried: one plain container " + runs);
        assertTrue(runs.get(0).endsWith(" berth-handler-probe-modest"), runs.toString());

        assertEquals(HandlerProbes.State.UNAVAILABLE, r.get("broken").state(), r.toString());
        if (hybridWithV2Controllers()) {
            assertEquals(HandlerProbes.State.UNAVAILABLE, r.get("crun").state(), r.toString());
            assertTrue(r.get("crun").reason().contains("cgroups in hybrid mode not supported"), r.get("crun").reason());
        } else {
            assertEquals(HandlerProbes.State.AVAILABLE, r.get("crun").state(), r.toString());
        }
        assertNothingLeft(List.of("runc", "crun", "strip", "modest"));
    }

    @Test
    void closingWhileAProbeRunsWaitsForItToReleaseWhatItMadeAndStartsNoOther() throws Exception {
        RuntimeHandlers handlers = handlers(Map.of("runc", "runc", "runc2", "runc"));
        Cgroups cgroups = Cgroups.detect("cgroupfs");
        HandlerProbes.Probe real = HandlerProbes.containers(handlers, probesDir, cgroups::remove, RuntimeFeatures::probe);
        CountDownLatch probing = new CountDownLatch(1);
        HandlerProbes probes = HandlerProbes.start(List.of("runc", "runc2"), h -> {
            probing.countDown();
            return real.probe(h);
        }, work -> new Thread(work, "handler-probe-test").start());
        assertTrue(probing.await(30, TimeUnit.SECONDS));
        probes.close();
        Map<String, HandlerProbes.Result> r = probes.results();
        assertEquals(HandlerProbes.State.AVAILABLE, r.get("runc").state(), "the probe under way ended: " + r);
        assertEquals(HandlerProbes.State.PROBING, r.get("runc2").state(), "no probe starts after close: " + r);
        assertEquals(Optional.empty(), probes.recursiveReadOnlyMounts("runc2"), "not probed: create falls back to the document");
        assertNothingLeft(List.of("runc", "runc2"));
    }

    @Test
    void aRecursiveReadOnlyMountCountsOnlyWhenItAndItsSubmountAreReadOnly() {
        String top = "600 500 0:50 / /dev/berth-rro %s,nosuid,nodev - tmpfs berth-probe rw";
        String sub = "601 600 0:51 / /dev/berth-rro/sub %s,nosuid,nodev,noexec - tmpfs berth-probe rw,size=4k";
        assertEquals(Optional.empty(), HandlerProbes.recursiveReadOnlyFault(List.of(top.formatted("ro"), sub.formatted("ro"))));
        assertTrue(HandlerProbes.recursiveReadOnlyFault(List.of(top.formatted("ro"), sub.formatted("rw"))).orElseThrow()
                .contains("ignored rro"));
        assertTrue(HandlerProbes.recursiveReadOnlyFault(List.of(top.formatted("rw"), sub.formatted("ro"))).isPresent());
        assertTrue(HandlerProbes.recursiveReadOnlyFault(List.of(top.formatted("ro"))).isPresent(), "no submount");
        assertTrue(HandlerProbes.recursiveReadOnlyFault(List.of()).isPresent());
    }
}
