package dev.berth.podsandbox.namespaces;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SysctlsTest {
    @Test
    void namespacedSysctlsAreAcceptedAndSlashSeparatorsNormalised() {
        Map<String, String> ok = Sysctls.validate(Map.of(
                "net/ipv4/ip_forward", "1", "kernel.shmmax", "100", "kernel.msgmnb", "10", "kernel.sem", "250 32000 32 128",
                "fs.mqueue.msg_max", "20", "net.ipv4.conf.all.rp_filter", "0"), true, true);
        assertEquals("1", ok.get("net.ipv4.ip_forward"));
        assertEquals(6, ok.size());
        assertEquals("/proc/sys/net/ipv4/ip_forward", Sysctls.procPath("net.ipv4.ip_forward"));
    }

    @Test
    void nonNamespacedUnknownMalformedOrHostSharedOnesAreInvalidArgument() {
        for (Map<String, String> bad : java.util.List.of(
                Map.of("vm.overcommit_memory", "1"), Map.of("kernel.hostname", "x"), Map.of("kernel.shmeverything", "1"),
                Map.of("net..ipv4", "1"), Map.of("net/../../etc", "1"), Map.of("net.ipv4.ip_forward", "1\nkernel.x=1"),
                Map.of("net.ipv4.ip_forward", ""))) {
            BerthException e = assertThrows(BerthException.class, () -> Sysctls.validate(bad, true, true), bad.toString());
            assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        }
        BerthException hostNet = assertThrows(BerthException.class, () -> Sysctls.validate(Map.of("net.core.somaxconn", "1"), false, true));
        assertTrue(hostNet.getMessage().contains("host network"), hostNet.getMessage());
        assertThrows(BerthException.class, () -> Sysctls.validate(Map.of("fs.mqueue.queues_max", "1"), true, false));
    }
}
