package dev.berth.podsandbox.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.util.List;
import org.junit.jupiter.api.Test;

class IdentityFilesTest {
    @Test
    void hostsHasLocalhostAndEveryPodIpWithTheHostname() {
        String hosts = IdentityFiles.hosts("web-0", List.of("10.1.0.5", "fd00::5"));
        assertTrue(hosts.startsWith("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"), hosts);
        assertTrue(hosts.endsWith("10.1.0.5\tweb-0\nfd00::5\tweb-0\n"), hosts);
    }

    @Test
    void resolvConfHasSearchesServersAndOptions() {
        assertEquals("search a.local b.local\nnameserver 10.0.0.10\nnameserver 10.0.0.11\noptions ndots:5 edns0\n",
                IdentityFiles.resolvConf(new SandboxConfig.Dns(List.of("10.0.0.10", "10.0.0.11"), List.of("a.local", "b.local"),
                        List.of("ndots:5", "edns0"))));
        assertEquals("nameserver 1.1.1.1\n", IdentityFiles.resolvConf(new SandboxConfig.Dns(List.of("1.1.1.1"), List.of(), List.of())));
    }

    @Test
    void dnsEntriesWithWhitespaceAreInvalidArgument() {
        BerthException e = assertThrows(BerthException.class, () -> IdentityFiles.validate(
                new SandboxConfig.Dns(List.of("10.0.0.1\nnameserver 6.6.6.6"), List.of(), List.of())));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
    }
}
