package dev.berth.streaming;

import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Single-use tokens for streaming URLs: each issued token maps to one request until it is
 * taken once or its time to live passes. Expired entries are dropped as new ones are issued.
 */
final class StreamTokens {
    private static final SecureRandom RANDOM = new SecureRandom();
    /** Tokens outstanding at once; past that {@link #issue} refuses. */
    static final int MAX_OUTSTANDING = 4096;

    private record Entry(StreamRequest request, long expiresAtMillis) {
    }

    private final Map<String, Entry> entries = new ConcurrentHashMap<>();
    private final Duration ttl;
    private final Clock clock;

    StreamTokens(Duration ttl, Clock clock) {
        this.ttl = ttl;
        this.clock = clock;
    }

    /** A fresh random token for {@code request}; empty when too many are outstanding. */
    Optional<String> issue(StreamRequest request) {
        long now = clock.millis();
        if (entries.size() >= MAX_OUTSTANDING) {
            purge(now);
            if (entries.size() >= MAX_OUTSTANDING) {
                return Optional.empty();
            }
        }
        byte[] raw = new byte[16];
        RANDOM.nextBytes(raw);
        String token = HexFormat.of().formatHex(raw);
        entries.put(token, new Entry(request, now + ttl.toMillis()));
        return Optional.of(token);
    }

    /** The request of a live token of this kind, removing the token; empty if unknown, used or expired. */
    Optional<StreamRequest> take(String kind, String token) {
        Entry e = entries.get(token);
        if (e == null || !e.request().kind().equals(kind)) {
            return Optional.empty();
        }
        if (!entries.remove(token, e)) {
            return Optional.empty();
        }
        return e.expiresAtMillis() > clock.millis() ? Optional.of(e.request()) : Optional.empty();
    }

    int outstanding() {
        return entries.size();
    }

    private void purge(long now) {
        for (Iterator<Entry> it = entries.values().iterator(); it.hasNext();) {
            if (it.next().expiresAtMillis() <= now) {
                it.remove();
            }
        }
    }
}
