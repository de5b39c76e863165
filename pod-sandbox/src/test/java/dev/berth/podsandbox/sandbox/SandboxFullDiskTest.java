package dev.berth.podsandbox.sandbox;

import dev.berth.host.testing.SmallFilesystems;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.host.LinuxMounts;
import dev.berth.podsandbox.oci.ConmonRuntime;
import dev.berth.podsandbox.oci.RuntimeHandlers;
import dev.berth.podsandbox.store.SandboxRecord;
import dev.berth.podsandbox.store.SandboxStore;
import dev.berth.podsandbox.testing.FakeCgroups;
import dev.berth.podsandbox.testing.FakePodNetwork;
import dev.berth.podsandbox.testing.HostProbe;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** RunPodSandbox and a restart with the sandbox records on a full filesystem (a small tmpfs, root). */
@Tag("root")
class SandboxFullDiskTest {

    @TempDir
    Path tmp;

    final FakePodNetwork network = new FakePodNetwork();
    final FakeCgroups cgroups = new FakeCgroups();
    final List<SandboxService> services = new ArrayList<>();

    SandboxService newService(Path stateDir, Path runRoot) {
        RuntimeHandlers handlers = new RuntimeHandlers(Map.of("runc", "runc"), "runc", ConmonRuntime.factory(
                Path.of("/usr/bin/conmon"), runRoot.resolve("runtimes"), java.time.Duration.ofSeconds(60), Path::of));
        SandboxService s = new SandboxService(stateDir, runRoot, handlers, network, cgroups, SandboxContainers.NONE);
        services.add(s);
        return s;
    }

    @Test
    void aFullDiskIsResourceExhaustedLeavesNoDirectoryAndARestartOnItStillRecovers() throws Exception {
        Path state = Files.createDirectories(tmp.resolve("state"));
        Path stateDir = state.resolve("sandboxes");
        Path runRoot = tmp.resolve("run");
        SmallFilesystems.mount(state, "8m");
        try {
            SandboxService service = newService(stateDir, runRoot);
            String before = service.run(SandboxServiceTest.pod("before"));
            // what a kill during an earlier run left: a record still CREATING
            SandboxStore leftBehind = new SandboxStore(stateDir);
            leftBehind.add(SandboxRecord.creating("c0ffee", SandboxServiceTest.pod("crashed"), 1, "crashed", "runc", "runc"))
                    .lock().unlock();
            Set<String> recordsBefore = names(stateDir);
            Path filler = state.resolve("filler");
            SmallFilesystems.fill(filler, 0);

            BerthException full = assertThrows(BerthException.class, () -> service.run(SandboxServiceTest.pod("full")));
            assertEquals(BerthException.Kind.RESOURCE_EXHAUSTED, full.kind(), full.toString());
            assertTrue(full.getMessage().contains(SmallFilesystems.NO_SPACE) && full.getMessage().contains(stateDir.toString()), full.getMessage());
            assertEquals(recordsBefore, names(stateDir), "the failed run left its directory");
            assertEquals(List.of("before"), service.list(SandboxFilter.ALL).stream().map(s -> s.metadata().name()).toList());

            // a restart while the disk is still full: the CREATING record cannot be rewritten, and recovery goes on
            SandboxService restarted = newService(stateDir, runRoot);
            assertEquals(2, restarted.recover());
            Map<String, SandboxState> states = restarted.list(SandboxFilter.ALL).stream()
                    .collect(Collectors.toMap(s -> s.metadata().name(), SandboxStatus::state));
            assertEquals(Map.of("before", SandboxState.READY, "crashed", SandboxState.NOTREADY), states);

            // space again: the same pod runs, and everything goes
            Files.delete(filler);
            String again = restarted.run(SandboxServiceTest.pod("full"));
            for (String id : List.of(again, before, "c0ffee")) {
                restarted.remove(id);
            }
            assertEquals(Set.of(), names(stateDir));
            assertEquals(List.of(), HostProbe.mountsUnder(runRoot));
        } finally {
            for (SandboxService s : services) {
                for (SandboxStatus st : s.list(SandboxFilter.ALL)) {
                    try {
                        s.remove(st.id());
                    } catch (RuntimeException e) {
                        // keep cleaning
                    }
                }
            }
            LinuxMounts.INSTANCE.unmountAllUnder(runRoot);
            SmallFilesystems.unmount(state);
        }
    }

    private static Set<String> names(Path d) throws IOException {
        try (Stream<Path> s = Files.list(d)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        }
    }
}
