package dev.berth.agent.pod;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What translation needs to know of the machine: its memory (for the oom_score_adj of
 * Burstable pods) and the resolver configuration that pods of DNS policy Default inherit.
 */
public record NodeFacts(long memoryBytes, List<String> dnsServers, List<String> dnsSearches, List<String> dnsOptions) {
    public NodeFacts {
        dnsServers = List.copyOf(dnsServers);
        dnsSearches = List.copyOf(dnsSearches);
        dnsOptions = List.copyOf(dnsOptions);
    }

    /** This machine: MemTotal of {@code /proc/meminfo}, servers, search and options of {@code /etc/resolv.conf}. */
    public static NodeFacts current() {
        return read(Path.of("/proc/meminfo"), Path.of("/etc/resolv.conf"));
    }

    static NodeFacts read(Path meminfo, Path resolvConf) {
        long memory;
        try {
            memory = dev.berth.host.HostMemory.totalBytes(meminfo);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the machine's memory from " + meminfo + ": " + e.getMessage(), e);
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(resolvConf);
        } catch (IOException e) {
            lines = List.of(); // no resolver configured: pods get none either
        }
        return fromResolvConf(memory, lines);
    }

    /** Parses resolv.conf lines the way the kubelet does: the last {@code search} wins, comments are skipped. */
    static NodeFacts fromResolvConf(long memory, List<String> lines) {
        List<String> servers = new ArrayList<>();
        List<String> searches = new ArrayList<>();
        List<String> options = new ArrayList<>();
        for (String raw : lines) {
            String line = raw.replaceAll("[#;].*", "").trim();
            String[] f = line.split("\\s+");
            if (f.length < 2) {
                continue;
            }
            switch (f[0].toLowerCase(Locale.ROOT)) {
                case "nameserver" -> servers.add(f[1]);
                case "search", "domain" -> {
                    searches.clear();
                    searches.addAll(List.of(f).subList(1, f.length));
                }
                case "options" -> options.addAll(List.of(f).subList(1, f.length));
                default -> {
                    // sortlist and others are not passed on
                }
            }
        }
        return new NodeFacts(memory, servers, searches, options);
    }
}
