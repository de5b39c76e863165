package dev.berth.images.reference;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.berth.common.BerthException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/** A content digest such as {@code sha256:9f86d0…}: an algorithm and its lower-case hex value. */
public record Digest(String algorithm, String hex) implements Comparable<Digest> {
    private static final Pattern HEX = Pattern.compile("[a-f0-9]+");

    public Digest {
        int expected = switch (algorithm) {
            case "sha256" -> 64;
            case "sha512" -> 128;
            default -> throw BerthException.invalidArgument("unsupported digest algorithm \"%s\" (sha256 and sha512 are)", algorithm);
        };
        if (hex.length() != expected || !HEX.matcher(hex).matches()) {
            throw BerthException.invalidArgument("invalid %s digest \"%s\": expected %d lower-case hex characters", algorithm, hex, expected);
        }
    }

    /** Parses {@code algorithm:hex}; anything else is an invalid argument. */
    @JsonCreator
    public static Digest parse(String s) {
        if (s == null) {
            throw BerthException.invalidArgument("digest is missing");
        }
        int colon = s.indexOf(':');
        if (colon <= 0) {
            throw BerthException.invalidArgument("invalid digest \"%s\": expected algorithm:hex", s);
        }
        return new Digest(s.substring(0, colon), s.substring(colon + 1));
    }

    public static boolean isDigest(String s) {
        try {
            parse(s);
            return true;
        } catch (BerthException e) {
            return false;
        }
    }

    public static Digest sha256(byte[] content) {
        return new Digest("sha256", HexFormat.of().formatHex(newSha256().digest(content)));
    }

    public static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A fresh hasher for this digest's algorithm. */
    public MessageDigest newHasher() {
        try {
            return MessageDigest.getInstance("sha256".equals(algorithm) ? "SHA-256" : "SHA-512");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The digest of what {@code hasher} has seen, in this digest's algorithm. */
    public Digest withValue(byte[] value) {
        return new Digest(algorithm, HexFormat.of().formatHex(value));
    }

    @JsonValue
    @Override
    public String toString() {
        return algorithm + ":" + hex;
    }

    @Override
    public int compareTo(Digest o) {
        return toString().compareTo(o.toString());
    }
}
