package dev.berth.agent.server;

import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.api.model.authentication.UserInfo;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who a request to the HTTP API comes from, as the kubelet finds out: a client certificate the
 * TLS handshake verified against the client CA (user = its CN, groups = its Os); else a bearer
 * token, which the API server's TokenReview accepts or not (answers cached, successes for
 * {@code successTtl}, rejections for {@code failureTtl}, keyed by the token's SHA-256); else
 * anonymous when allowed. A token that is presented and rejected fails the request even when
 * anonymous access is on, as in the kubelet.
 */
public final class Authenticator {
    private static final Logger LOG = LoggerFactory.getLogger(Authenticator.class);
    private static final int CACHE_SIZE = 4096;

    private final KubernetesClient api;
    private final boolean anonymous;
    private final Duration successTtl;
    private final Duration failureTtl;
    private final TtlCache<String, Optional<User>> tokens;

    /** {@code api} null: bearer tokens are not checked (standalone, or the token webhook off). */
    public Authenticator(KubernetesClient api, boolean anonymous, Duration successTtl, Duration failureTtl, Clock clock) {
        this.api = api;
        this.anonymous = anonymous;
        this.successTtl = successTtl;
        this.failureTtl = failureTtl;
        this.tokens = new TtlCache<>(clock, CACHE_SIZE);
    }

    /**
     * The request's user, or empty when it is not authenticated (answer 401). {@code peer}: the
     * client's verified certificate chain (null or empty: none); {@code authorization}: the
     * Authorization header (null: none).
     */
    public Optional<User> authenticate(Certificate[] peer, String authorization) {
        if (peer != null && peer.length > 0 && peer[0] instanceof X509Certificate c) {
            Optional<User> u = fromCertificate(c);
            if (u.isPresent()) {
                return u;
            }
        }
        String token = bearer(authorization);
        if (token != null && api != null) {
            return review(token);
        }
        return anonymous ? Optional.of(User.ANONYMOUS) : Optional.empty();
    }

    /** The certificate's user: CN the name, every O a group; none without a CN. */
    static Optional<User> fromCertificate(X509Certificate c) {
        try {
            String cn = null;
            List<String> groups = new ArrayList<>();
            for (Rdn rdn : new LdapName(c.getSubjectX500Principal().getName(javax.security.auth.x500.X500Principal.RFC2253)).getRdns()) {
                if (rdn.getType().equalsIgnoreCase("CN") && cn == null) {
                    cn = String.valueOf(rdn.getValue());
                } else if (rdn.getType().equalsIgnoreCase("O")) {
                    groups.add(String.valueOf(rdn.getValue()));
                }
            }
            // the RFC 2253 form lists the most significant RDN last: groups in certificate order
            java.util.Collections.reverse(groups);
            return cn == null || cn.isEmpty() ? Optional.empty() : Optional.of(new User(cn, "", groups, java.util.Map.of()));
        } catch (InvalidNameException e) {
            return Optional.empty();
        }
    }

    /** The token of an {@code Authorization: Bearer <token>} header, or null. */
    static String bearer(String authorization) {
        if (authorization == null) {
            return null;
        }
        String a = authorization.trim();
        if (a.length() < 7 || !a.regionMatches(true, 0, "bearer ", 0, 7)) {
            return null;
        }
        String t = a.substring(7).trim();
        return t.isEmpty() ? null : t;
    }

    private Optional<User> review(String token) {
        String key = sha256(token);
        Optional<User> cached = tokens.get(key);
        if (cached != null) {
            return cached;
        }
        TokenReview answer;
        try {
            answer = api.authentication().v1().tokenReviews().create(new TokenReviewBuilder().withNewSpec().withToken(token).endSpec().build());
        } catch (KubernetesClientException e) {
            // not cached: the next request asks again
            LOG.warn("the HTTP API cannot check a bearer token through TokenReview: {}", e.getMessage());
            return Optional.empty();
        }
        Optional<User> user = Optional.empty();
        if (answer != null && answer.getStatus() != null && Boolean.TRUE.equals(answer.getStatus().getAuthenticated())
                && answer.getStatus().getUser() != null) {
            UserInfo u = answer.getStatus().getUser();
            user = Optional.of(new User(u.getUsername(), u.getUid(), u.getGroups(), u.getExtra()));
        }
        tokens.put(key, user, user.isPresent() ? successTtl : failureTtl);
        return user;
    }

    private static String sha256(String token) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
