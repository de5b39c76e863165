package dev.berth.images.reference;

import dev.berth.common.BerthException;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * A normalised image reference: registry host (with port), repository path, and a tag, a
 * digest or both. {@code busybox} normalises to {@code docker.io/library/busybox:latest};
 * {@code host:5000/ns/app@sha256:…} keeps its registry and has no tag.
 */
public record Reference(String registry, String repository, String tag, Digest digest) {
    public static final String DOCKER_HUB = "docker.io";
    private static final int MAX_NAME = 255;
    private static final Pattern COMPONENT = Pattern.compile("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*");
    private static final Pattern DOMAIN = Pattern.compile(
            "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
                    + "|\\[[a-fA-F0-9:]+\\]");
    private static final Pattern PORT = Pattern.compile("[0-9]{1,5}");
    private static final Pattern TAG = Pattern.compile("[\\w][\\w.-]{0,127}");

    public Reference {
        if (tag == null && digest == null) {
            throw new IllegalArgumentException("a reference needs a tag or a digest");
        }
    }

    /** Parses and normalises an image reference; an invalid one is an invalid argument naming the reason. */
    public static Reference parse(String s) {
        if (s == null || s.isEmpty()) {
            throw BerthException.invalidArgument("image reference is empty");
        }
        if (!s.equals(s.strip()) || s.chars().anyMatch(Character::isWhitespace)) {
            throw BerthException.invalidArgument("invalid image reference \"%s\": contains white space", s);
        }
        String rest = s;
        Digest digest = null;
        int at = rest.indexOf('@');
        if (at >= 0) {
            try {
                digest = Digest.parse(rest.substring(at + 1));
            } catch (BerthException e) {
                throw BerthException.invalidArgument("invalid image reference \"%s\": %s", s, e.getMessage());
            }
            rest = rest.substring(0, at);
        }
        String tag = null;
        int slash = rest.lastIndexOf('/');
        int colon = rest.lastIndexOf(':');
        if (colon > slash) {
            tag = rest.substring(colon + 1);
            rest = rest.substring(0, colon);
            if (!TAG.matcher(tag).matches()) {
                throw BerthException.invalidArgument(
                        "invalid image reference \"%s\": invalid tag \"%s\" (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')", s, tag);
            }
        }
        if (rest.isEmpty()) {
            throw BerthException.invalidArgument("invalid image reference \"%s\": repository name is empty", s);
        }
        if (digest == null && rest.matches("[a-f0-9]{64}")) {
            throw BerthException.invalidArgument("invalid image reference \"%s\": a 64-character hex string is an image id, not a repository name", s);
        }
        String registry;
        String path;
        int first = rest.indexOf('/');
        String head = first < 0 ? rest : rest.substring(0, first);
        if (first >= 0 && (head.contains(".") || head.contains(":") || head.equals("localhost") || !head.equals(head.toLowerCase(Locale.ROOT)))) {
            registry = head;
            path = rest.substring(first + 1);
            validateDomain(s, registry);
        } else {
            registry = DOCKER_HUB;
            path = rest;
        }
        if (registry.equals("index.docker.io") || registry.equals("registry-1.docker.io")) {
            registry = DOCKER_HUB;
        }
        if (registry.equals(DOCKER_HUB) && !path.contains("/")) {
            path = "library/" + path;
        }
        for (String component : path.split("/", -1)) {
            if (component.isEmpty()) {
                throw BerthException.invalidArgument("invalid image reference \"%s\": empty path component", s);
            }
            if (!component.equals(component.toLowerCase(Locale.ROOT))) {
                throw BerthException.invalidArgument("invalid image reference \"%s\": repository name must be lower-case", s);
            }
            if (!COMPONENT.matcher(component).matches()) {
                throw BerthException.invalidArgument("invalid image reference \"%s\": invalid repository path component \"%s\"", s, component);
            }
        }
        if (registry.length() + 1 + path.length() > MAX_NAME) {
            throw BerthException.invalidArgument("invalid image reference \"%s\": name longer than %d characters", s, MAX_NAME);
        }
        if (tag == null && digest == null) {
            tag = "latest";
        }
        return new Reference(registry, path, tag, digest);
    }

    private static void validateDomain(String s, String registry) {
        String host = registry;
        int colon = registry.lastIndexOf(':');
        if (colon > registry.lastIndexOf(']')) {
            String port = registry.substring(colon + 1);
            host = registry.substring(0, colon);
            if (!PORT.matcher(port).matches() || Integer.parseInt(port) > 65535) {
                throw BerthException.invalidArgument("invalid image reference \"%s\": invalid registry port \"%s\"", s, port);
            }
        }
        if (!DOMAIN.matcher(host).matches()) {
            throw BerthException.invalidArgument("invalid image reference \"%s\": invalid registry host \"%s\"", s, host);
        }
    }

    /** {@code registry/repository}. */
    public String name() {
        return registry + "/" + repository;
    }

    /** What to ask the registry for: the digest when known, the tag otherwise. */
    public String manifestReference() {
        return digest != null ? digest.toString() : tag;
    }

    public Reference withDigest(Digest d) {
        return new Reference(registry, repository, tag, d);
    }

    /** {@code name:tag}, or null without a tag. */
    public String tagged() {
        return tag == null ? null : name() + ":" + tag;
    }

    /** {@code name@digest}, or null without a digest. */
    public String digested() {
        return digest == null ? null : name() + "@" + digest;
    }

    /** The host a registry name points to: Docker Hub's API lives at registry-1.docker.io. */
    public String apiHost() {
        return registry.equals(DOCKER_HUB) ? "registry-1.docker.io" : registry;
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder(name());
        if (tag != null) {
            b.append(':').append(tag);
        }
        if (digest != null) {
            b.append('@').append(digest);
        }
        return b.toString();
    }
}
