package dev.berth.cli.config;

import java.time.Duration;

/**
 * The {@code [streaming]} section: where the exec/attach/port-forward server listens and its
 * limits.
 * <pre>
 * [streaming]
 * address = "127.0.0.1:0"   # host:port; port 0 picks a free port at start
 * token_ttl = "1m"          # how long a streaming URL stays good (used once)
 * max_streams = 256         # sessions at once
 * idle_timeout = "4h"       # a session with no traffic either way is closed
 * tls_cert_file = ""        # PEM certificate chain: serve HTTPS (with tls_key_file)
 * tls_key_file = ""         # its PEM (PKCS#8) private key
 * </pre>
 */
public record StreamingSettings(String host, int port, Duration tokenTtl, int maxStreams, Duration idleTimeout,
        java.nio.file.Path tlsCertFile, java.nio.file.Path tlsKeyFile) {
    public StreamingSettings(String host, int port, Duration tokenTtl, int maxStreams, Duration idleTimeout) {
        this(host, port, tokenTtl, maxStreams, idleTimeout, null, null);
    }

    public static final String DEFAULT_ADDRESS = "127.0.0.1:0";

    /** Reads the section; bad values name their key. */
    public static StreamingSettings read(ConfigSection s) {
        String address = s.string("address", DEFAULT_ADDRESS);
        Duration ttl = s.duration("token_ttl", Duration.ofMinutes(1));
        int maxStreams = (int) s.integer("max_streams", 256, 1, 100_000);
        Duration idle = s.duration("idle_timeout", Duration.ofHours(4));
        if (ttl.isZero() || ttl.isNegative()) {
            throw new ConfigException("config key 'streaming.token_ttl' must be positive, got " + Durations.format(ttl));
        }
        if (idle.isZero() || idle.isNegative()) {
            throw new ConfigException("config key 'streaming.idle_timeout' must be positive, got "
                    + Durations.format(idle));
        }
        int colon = address.lastIndexOf(':');
        if (colon < 0) {
            throw new ConfigException("config key 'streaming.address' must be host:port (e.g. \"" + DEFAULT_ADDRESS
                    + "\"), got \"" + address + "\"");
        }
        String host = address.substring(0, colon);
        String port = address.substring(colon + 1);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
            if (!host.matches("[0-9a-fA-F:.]+") || !host.contains(":")) {
                throw new ConfigException("config key 'streaming.address' has an invalid IPv6 address in brackets, got \""
                        + address + "\"");
            }
        } else if (host.contains(":")) {
            throw new ConfigException("config key 'streaming.address' must write an IPv6 address in brackets ([::1]:0), got \""
                    + address + "\"");
        } else if (host.isEmpty() || !host.matches("[A-Za-z0-9.-]+")) {
            throw new ConfigException("config key 'streaming.address' needs a host name or address, got \"" + address
                    + "\"");
        }
        if (!port.matches("[0-9]{1,5}") || Integer.parseInt(port) > 65535) {
            throw new ConfigException("config key 'streaming.address' must end in a port between 0 and 65535, got \""
                    + address + "\"");
        }
        String cert = s.string("tls_cert_file", "");
        String key = s.string("tls_key_file", "");
        if (cert.isEmpty() != key.isEmpty()) {
            throw new ConfigException("config keys 'streaming.tls_cert_file' and 'streaming.tls_key_file' go together; "
                    + (cert.isEmpty() ? "tls_cert_file" : "tls_key_file") + " is missing");
        }
        for (String[] k : new String[][] {{"tls_cert_file", cert}, {"tls_key_file", key}}) {
            if (!k[1].isEmpty() && !java.nio.file.Files.isReadable(java.nio.file.Path.of(k[1]))) {
                throw new ConfigException("config key 'streaming." + k[0] + "' names a file that cannot be read: \"" + k[1]
                        + "\"");
            }
        }
        return new StreamingSettings(host, Integer.parseInt(port), ttl, maxStreams, idle,
                cert.isEmpty() ? null : java.nio.file.Path.of(cert), key.isEmpty() ? null : java.nio.file.Path.of(key));
    }
}
