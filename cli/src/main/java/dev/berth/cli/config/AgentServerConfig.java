package dev.berth.cli.config;

import dev.berth.agent.server.ServerSettings;
import java.nio.file.Path;

/**
 * The {@code [agent]} keys of the agent's HTTP API and the kubelet's flags of the same names:
 * {@code address} (--address, 0.0.0.0), {@code port} (--port, 10250; 0: off),
 * {@code read_only_port} (--read-only-port; 0: off; unset: off when connected, 10255 on
 * 127.0.0.1 when standalone), {@code tls_cert_file} and {@code tls_private_key_file}
 * (--tls-cert-file, --tls-private-key-file; unset: a self-signed pair under the agent's state),
 * {@code client_ca_file} (--client-ca-file), {@code authentication_token_webhook}
 * (--authentication-token-webhook, true), {@code authorization_mode} (--authorization-mode,
 * Webhook or AlwaysAllow) and {@code anonymous_auth} (--anonymous-auth, false).
 */
public final class AgentServerConfig {
    private AgentServerConfig() {
    }

    static ServerSettings read(ConfigSection s) {
        String address = s.string("address", "0.0.0.0");
        int port = (int) s.integer("port", ServerSettings.DEFAULT_PORT, 0, 65535);
        int readOnly = s.has("read_only_port") ? (int) s.integer("read_only_port", 0, 0, 65535) : ServerSettings.READ_ONLY_BY_MODE;
        String cert = s.string("tls_cert_file", "");
        String key = s.string("tls_private_key_file", "");
        String ca = s.string("client_ca_file", "");
        boolean webhook = s.bool("authentication_token_webhook", true);
        String mode = s.oneOf("authorization_mode", "Webhook", "Webhook", "AlwaysAllow");
        boolean anonymous = s.bool("anonymous_auth", false);
        return settings(address, port, readOnly, path(s, "agent.tls_cert_file", cert), path(s, "agent.tls_private_key_file", key),
                path(s, "agent.client_ca_file", ca), webhook, mode, anonymous, "config key 'agent.%s'");
    }

    private static Path path(ConfigSection s, String key, String value) {
        if (value.isEmpty()) {
            return null;
        }
        Path p = Path.of(value);
        if (!p.isAbsolute()) {
            throw new ConfigException("config key '" + key + "' must be an absolute path, got \"" + value + "\"");
        }
        return p;
    }

    /** {@code server} with the kubelet's flags applied (each non-null one wins). */
    public static ServerSettings withFlags(ServerSettings server, String address, Integer port, Integer readOnlyPort, Path certFile,
                                           Path keyFile, Path clientCaFile, Boolean tokenWebhook, String authorizationMode,
                                           Boolean anonymousAuth) {
        if (authorizationMode != null && !authorizationMode.equals("Webhook") && !authorizationMode.equals("AlwaysAllow")) {
            throw new ConfigException("option --authorization-mode must be Webhook or AlwaysAllow, got \"" + authorizationMode + "\"");
        }
        for (Integer p : new Integer[] {port, readOnlyPort}) {
            if (p != null && (p < 0 || p > 65535)) {
                throw new ConfigException("options --port and --read-only-port must be 0..65535, got " + p);
            }
        }
        return settings(address != null ? address : server.address(), port != null ? port : server.port(),
                readOnlyPort != null ? readOnlyPort : server.readOnlyPort(),
                certFile != null ? certFile.toAbsolutePath() : server.tlsCertFile(),
                keyFile != null ? keyFile.toAbsolutePath() : server.tlsPrivateKeyFile(),
                clientCaFile != null ? clientCaFile.toAbsolutePath() : server.clientCaFile(),
                tokenWebhook != null ? tokenWebhook : server.tokenWebhook(),
                authorizationMode != null ? authorizationMode : server.authorization().flag(),
                anonymousAuth != null ? anonymousAuth : server.anonymousAuth(), "option --%s");
    }

    private static ServerSettings settings(String address, int port, int readOnly, Path cert, Path key, Path ca, boolean webhook,
                                           String mode, boolean anonymous, String setting) {
        if (!address.matches("[0-9.]{7,15}|[0-9A-Fa-f:.]{2,45}")) {
            throw new ConfigException(String.format(setting, setting.startsWith("option") ? "address" : "address")
                    + " must be an IP address such as 0.0.0.0, got \"" + address + "\"");
        }
        if ((cert == null) != (key == null)) {
            throw new ConfigException(String.format(setting, setting.startsWith("option") ? "tls-cert-file" : "tls_cert_file")
                    + " and the private key go together: give both or neither");
        }
        return new ServerSettings(address, port, readOnly, cert, key, ca, webhook, ServerSettings.AuthorizationMode.of(mode), anonymous,
                null, null, null, null);
    }
}
