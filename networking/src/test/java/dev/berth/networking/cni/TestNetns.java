package dev.berth.networking.cni;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/** A network namespace a test creates (ip netns add) and deletes again, standing in for a pod's pinned namespace. */
final class TestNetns implements AutoCloseable {
    final String name;
    final Path path;

    private TestNetns(String name) {
        this.name = name;
        this.path = Path.of("/run/netns", name);
    }

    static TestNetns create() {
        String name = "berth-test-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffffffL);
        Sh.run("ip", "netns", "add", name).ok();
        return new TestNetns(name);
    }

    Sh.Result exec(String... cmd) {
        List<String> all = new ArrayList<>(List.of("ip", "netns", "exec", name));
        all.addAll(List.of(cmd));
        return Sh.run(all);
    }

    List<String> execCommand(String... cmd) {
        List<String> all = new ArrayList<>(List.of("ip", "netns", "exec", name));
        all.addAll(List.of(cmd));
        return all;
    }

    @Override
    public void close() {
        Sh.run("ip", "netns", "delete", name);
    }
}
