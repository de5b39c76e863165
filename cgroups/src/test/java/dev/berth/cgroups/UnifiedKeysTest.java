package dev.berth.cgroups;

import static dev.berth.cgroups.ConversionsTest.assertInvalid;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;

import java.util.Map;
import org.junit.jupiter.api.Test;

class UnifiedKeysTest {
    @Test
    void knownControllerFilesAreAccepted() {
        assertDoesNotThrow(() -> UnifiedKeys.validate(Map.of(
                "memory.high", "1073741824", "memory.min", "0", "cpu.idle", "1", "io.max", "254:0 wbps=1048576",
                "hugetlb.2MB.max", "max", "pids.max", "10", "memory.oom.group", "1")));
        assertDoesNotThrow(() -> UnifiedKeys.validate(Map.of()));
        assertDoesNotThrow(() -> UnifiedKeys.validate(null));
    }

    @Test
    void malformedKeysAreInvalid() {
        for (String key : new String[] {"", "memory", ".high", "memory.", "../memory.max", "memory/../../x", "memory..max",
                "memory.high\n", "memory high", "cpu.max;rm"}) {
            assertInvalid(() -> UnifiedKeys.validate(Map.of(key, "1")));
        }
    }

    @Test
    void unknownControllersAreInvalid() {
        assertInvalid(() -> UnifiedKeys.validate(Map.of("foo.max", "1")));
        assertInvalid(() -> UnifiedKeys.validate(Map.of("blkio.weight", "100")));
    }

    @Test
    void filesBerthOwnsMayNotBeSet() {
        for (String key : new String[] {"cgroup.procs", "cgroup.subtree_control", "cgroup.kill", "cgroup.threads", "cgroup.freeze"}) {
            assertInvalid(() -> UnifiedKeys.validate(Map.of(key, "1")));
        }
    }

    @Test
    void valuesWithControlCharactersAreInvalid() {
        assertInvalid(() -> UnifiedKeys.validate(Map.of("memory.high", "1\n2")));
        assertInvalid(() -> UnifiedKeys.validate(Map.of("memory.high", "1\0")));
        assertInvalid(() -> UnifiedKeys.validate(Map.of("memory.high", "x".repeat(5000))));
    }
}
