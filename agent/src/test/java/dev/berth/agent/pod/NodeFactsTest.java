package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NodeFactsTest {
    @TempDir
    Path dir;

    @Test
    void resolvConfAndMemoryAreReadLikeTheKubeletDoes() throws Exception {
        Path meminfo = Files.writeString(dir.resolve("meminfo"), "MemTotal:        2048 kB\nMemFree:          100 kB\n");
        Path resolv = Files.writeString(dir.resolve("resolv.conf"), "# comment\nsearch old.example\nnameserver 10.0.0.2\n"
                + "nameserver 10.0.0.3 # second\nsearch a.example b.example\noptions ndots:2 edns0\nsortlist 1.2.3.4\n");
        NodeFacts f = NodeFacts.read(meminfo, resolv);
        assertEquals(2048L * 1024, f.memoryBytes());
        assertEquals(List.of("10.0.0.2", "10.0.0.3"), f.dnsServers());
        assertEquals(List.of("a.example", "b.example"), f.dnsSearches(), "the last search line wins");
        assertEquals(List.of("ndots:2", "edns0"), f.dnsOptions());
        assertTrue(NodeFacts.read(meminfo, dir.resolve("absent")).dnsServers().isEmpty());
    }
}
