package dev.berth.podsandbox.sandbox;

import dev.berth.common.AtomicFiles;
import dev.berth.common.BerthException;
import dev.berth.common.PrivateFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The files that give a pod its identity inside its containers: hostname, hosts and resolv.conf.
 * They live in the run root (runtime state, gone at reboot together with the namespaces), so a
 * rename makes each appear whole but nothing is synced to disk.
 */
final class IdentityFiles {
    static final Path HOST_RESOLV_CONF = Path.of("/etc/resolv.conf");
    static final Path HOST_HOSTS = Path.of("/etc/hosts");

    private IdentityFiles() {
    }

    static String hosts(String hostname, List<String> ips) {
        StringBuilder b = new StringBuilder()
                .append("127.0.0.1\tlocalhost\n")
                .append("::1\tlocalhost ip6-localhost ip6-loopback\n")
                .append("fe00::0\tip6-localnet\n")
                .append("fe00::0\tip6-mcastprefix\n")
                .append("fe00::1\tip6-allnodes\n")
                .append("fe00::2\tip6-allrouters\n");
        for (String ip : ips) {
            b.append(ip).append('\t').append(hostname).append('\n');
        }
        return b.toString();
    }

    static String resolvConf(SandboxConfig.Dns dns) {
        StringBuilder b = new StringBuilder();
        if (!dns.searches().isEmpty()) {
            b.append("search ").append(String.join(" ", dns.searches())).append('\n');
        }
        for (String server : dns.servers()) {
            b.append("nameserver ").append(server).append('\n');
        }
        if (!dns.options().isEmpty()) {
            b.append("options ").append(String.join(" ", dns.options())).append('\n');
        }
        return b.toString();
    }

    /** Checks the DNS config before anything is created: no empty entries, no whitespace inside one. */
    static void validate(SandboxConfig.Dns dns) {
        for (List<String> list : List.of(dns.servers(), dns.searches(), dns.options())) {
            for (String s : list) {
                if (s.isBlank() || s.chars().anyMatch(Character::isWhitespace)) {
                    throw BerthException.invalidArgument("invalid DNS config entry \"%s\"", s);
                }
            }
        }
    }

    /** Writes hostname, hosts and resolv.conf into {@code dir}. */
    static void write(Path dir, SandboxConfig config, String hostname, List<String> ips) {
        boolean hostNetwork = config.namespaces().hostNetwork();
        try {
            PrivateFiles.createDirectories(dir);
            replace(dir.resolve("hostname"), (hostname + "\n").getBytes(StandardCharsets.UTF_8));
            replace(dir.resolve("hosts"), hostNetwork ? readOrEmpty(HOST_HOSTS) : hosts(hostname, ips).getBytes(StandardCharsets.UTF_8));
            replace(dir.resolve("resolv.conf"), config.dns().isEmpty() ? readOrEmpty(HOST_RESOLV_CONF)
                    : resolvConf(config.dns()).getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw BerthException.fromIo("cannot write the identity files of the pod in " + dir, dir, e);
        }
    }

    /** Replaced atomically, {@code 0644} whatever the umask: the container's processes read them as any user. */
    private static void replace(Path target, byte[] content) throws IOException {
        AtomicFiles.write(target, content, PrivateFiles.READABLE, false);
    }

    private static byte[] readOrEmpty(Path p) throws IOException {
        return Files.exists(p) ? Files.readAllBytes(p) : new byte[0];
    }
}
