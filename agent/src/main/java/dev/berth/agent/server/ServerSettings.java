package dev.berth.agent.server;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The agent's HTTP API (the kubelet's {@code --address}, {@code --port}, {@code --read-only-port},
 * {@code --tls-cert-file}, {@code --tls-private-key-file}, {@code --client-ca-file},
 * {@code --authentication-token-webhook}, {@code --authorization-mode}, {@code --anonymous-auth}).
 * <ul>
 * <li>{@code port} 0: no secure (TLS) listener. Without a certificate and key, a self-signed one is
 * made and kept under the agent's state directory.</li>
 * <li>{@code readOnlyPort}: the plain-HTTP listener of the read-only paths (/healthz, /pods,
 * /stats, /metrics…); 0 is off, {@link #READ_ONLY_BY_MODE} means berth's default: off when
 * connected (the kubelet's default), {@value #STANDALONE_READ_ONLY_PORT} on 127.0.0.1 only when
 * standalone (no one else could reach a standalone node's state). A port given explicitly listens
 * on {@code address}, as the kubelet's does.</li>
 * <li>{@code tokenWebhook}: bearer tokens are checked through the API server's TokenReview (only
 * when connected); {@code authorization} Webhook asks SubjectAccessReview (only when connected;
 * standalone, the agent has no one to ask and allows every authenticated request).</li>
 * </ul>
 * The caches keep a TokenReview's answer {@code authnSuccessTtl} / {@code authnFailureTtl} and a
 * SubjectAccessReview's {@code authzAllowTtl} / {@code authzDenyTtl} (the kubelet's 2 min / 30 s
 * and 5 min / 30 s).
 */
public record ServerSettings(String address, int port, int readOnlyPort, Path tlsCertFile, Path tlsPrivateKeyFile,
                             Path clientCaFile, boolean tokenWebhook, AuthorizationMode authorization, boolean anonymousAuth,
                             Duration authnSuccessTtl, Duration authnFailureTtl, Duration authzAllowTtl, Duration authzDenyTtl) {
    public static final int DEFAULT_PORT = 10250;
    public static final int STANDALONE_READ_ONLY_PORT = 10255;
    public static final int READ_ONLY_BY_MODE = -1;

    /** How requests that passed authentication are authorized. */
    public enum AuthorizationMode {
        ALWAYS_ALLOW("AlwaysAllow"), WEBHOOK("Webhook");

        private final String flag;

        AuthorizationMode(String flag) {
            this.flag = flag;
        }

        public String flag() {
            return flag;
        }

        /** The mode of its kubelet name ({@code AlwaysAllow}, {@code Webhook}). */
        public static AuthorizationMode of(String flag) {
            for (AuthorizationMode m : values()) {
                if (m.flag.equals(flag)) {
                    return m;
                }
            }
            throw new IllegalArgumentException("authorization mode must be AlwaysAllow or Webhook, got \"" + flag + "\"");
        }
    }

    public ServerSettings {
        if (address == null || address.isBlank()) {
            address = "0.0.0.0";
        }
        if (port < 0 || port > 65535 || readOnlyPort < READ_ONLY_BY_MODE || readOnlyPort > 65535) {
            throw new IllegalArgumentException("port and read_only_port must be 0..65535");
        }
        if ((tlsCertFile == null) != (tlsPrivateKeyFile == null)) {
            throw new IllegalArgumentException("tls_cert_file and tls_private_key_file go together: give both or neither");
        }
        if (authorization == null) {
            authorization = AuthorizationMode.WEBHOOK;
        }
        authnSuccessTtl = authnSuccessTtl == null ? Duration.ofMinutes(2) : authnSuccessTtl;
        authnFailureTtl = authnFailureTtl == null ? Duration.ofSeconds(30) : authnFailureTtl;
        authzAllowTtl = authzAllowTtl == null ? Duration.ofMinutes(5) : authzAllowTtl;
        authzDenyTtl = authzDenyTtl == null ? Duration.ofSeconds(30) : authzDenyTtl;
    }

    /** The kubelet's defaults (of its configuration file): port 10250, token webhook, Webhook authorization, no anonymous access. */
    public static ServerSettings defaults() {
        return new ServerSettings("0.0.0.0", DEFAULT_PORT, READ_ONLY_BY_MODE, null, null, null, true, AuthorizationMode.WEBHOOK, false,
                null, null, null, null);
    }

    /** No HTTP API at all (tests, and agents embedded where a port is unwelcome). */
    public static ServerSettings disabled() {
        return new ServerSettings("0.0.0.0", 0, 0, null, null, null, true, AuthorizationMode.WEBHOOK, false, null, null, null, null);
    }

    /** The read-only port in effect: {@code readOnlyPort}, or by mode when not given. */
    public int effectiveReadOnlyPort(boolean connected) {
        if (readOnlyPort != READ_ONLY_BY_MODE) {
            return readOnlyPort;
        }
        return connected ? 0 : STANDALONE_READ_ONLY_PORT;
    }

    /** Where the read-only listener binds: {@code address} for a port given explicitly, else loopback only. */
    public String readOnlyAddress() {
        return readOnlyPort == READ_ONLY_BY_MODE ? "127.0.0.1" : address;
    }
}
