package dev.berth.images.registry;

import dev.berth.common.BerthException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * What a caller may present to a registry: a user name and password (HTTP Basic, or to obtain
 * a Bearer token), an identity token (a refresh token for the token endpoint), or a registry
 * token (a Bearer token used as is). {@link #toString()} never shows a secret.
 */
public record Credentials(String username, String password, String identityToken, String registryToken) {
    public static final Credentials NONE = new Credentials("", "", "", "");

    public Credentials {
        username = username == null ? "" : username;
        password = password == null ? "" : password;
        identityToken = identityToken == null ? "" : identityToken;
        registryToken = registryToken == null ? "" : registryToken;
    }

    /**
     * From the fields of a CRI AuthConfig or a Docker config.json entry: {@code auth} is
     * base64 of {@code user:password} and, when set, wins over username and password.
     */
    public static Credentials of(String username, String password, String auth, String identityToken, String registryToken) {
        String user = username;
        String pass = password;
        if (auth != null && !auth.isEmpty()) {
            String decoded;
            try {
                decoded = new String(Base64.getDecoder().decode(auth.strip()), StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                throw BerthException.invalidArgument("registry credentials: the auth field is not valid base64");
            }
            int colon = decoded.indexOf(':');
            if (colon < 0) {
                throw BerthException.invalidArgument("registry credentials: the auth field does not decode to user:password");
            }
            user = decoded.substring(0, colon);
            pass = decoded.substring(colon + 1);
        }
        return new Credentials(user, pass, identityToken, registryToken);
    }

    public boolean isEmpty() {
        return username.isEmpty() && password.isEmpty() && identityToken.isEmpty() && registryToken.isEmpty();
    }

    public boolean hasPassword() {
        return !username.isEmpty() || !password.isEmpty();
    }

    /**
     * Who asks, for keying what a registry handed out to these credentials (tokens): "anonymous",
     * or a SHA-256 of every field, so that a token fetched with one secret is never reused by a
     * caller with another secret or none, and no secret is kept in the key.
     */
    String identity() {
        if (isEmpty()) {
            return "anonymous";
        }
        try {
            java.security.MessageDigest h = java.security.MessageDigest.getInstance("SHA-256");
            for (String field : new String[] {username, password, identityToken, registryToken}) {
                byte[] b = field.getBytes(StandardCharsets.UTF_8);
                h.update(java.nio.ByteBuffer.allocate(4).putInt(b.length).array());
                h.update(b);
            }
            return java.util.HexFormat.of().formatHex(h.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    String basicHeader() {
        return "Basic " + Base64.getEncoder().encodeToString((username + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public String toString() {
        return isEmpty() ? "Credentials[anonymous]" : "Credentials[user=" + username + ", secrets redacted]";
    }
}
