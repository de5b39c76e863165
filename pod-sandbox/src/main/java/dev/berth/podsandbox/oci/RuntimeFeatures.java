package dev.berth.podsandbox.oci;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.host.Command;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What an OCI runtime binary says it supports ({@code <binary> features}, the OCI runtime
 * features document), joined with what this kernel supports: the ground for the per-handler
 * features berth reports in Status and for refusing at create what a handler cannot do. A
 * runtime without a {@code features} command (crun 1.8) or with unreadable output supports
 * nothing optional. Each binary is asked once; the answer is kept for the daemon's life.
 * It is the static first answer: a document is only a claim, so the features Status reports are
 * those {@link HandlerProbes} saw a container of the handler really use; a feature this class
 * rules out (the kernel lacks it, or the document says the runtime does) is not tried.
 */
public final class RuntimeFeatures {
    private static final Logger LOG = LoggerFactory.getLogger(RuntimeFeatures.class);
    /** The features document is a few KiB; more than this is not a features document. */
    private static final long OUTPUT_CAP = 1 << 20;
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final Path OSRELEASE = Path.of("/proc/sys/kernel/osrelease");
    private static final Path MAX_USER_NAMESPACES = Path.of("/proc/sys/user/max_user_namespaces");
    private static final Map<String, RuntimeFeatures> PROBED = new ConcurrentHashMap<>();

    private final Set<String> mountOptions;
    private final Set<String> namespaces;
    /** Whether the document lists mount options at all (else it says nothing of rro either way). */
    private final boolean mountOptionsListed;
    /** Whether the document lists namespaces at all. */
    private final boolean namespacesListed;
    private final boolean kernelMountSetattr;
    private final boolean kernelUserNamespaces;

    RuntimeFeatures(Set<String> mountOptions, Set<String> namespaces, boolean kernelMountSetattr, boolean kernelUserNamespaces) {
        this(mountOptions, !mountOptions.isEmpty(), namespaces, !namespaces.isEmpty(), kernelMountSetattr, kernelUserNamespaces);
    }

    private RuntimeFeatures(Set<String> mountOptions, boolean mountOptionsListed, Set<String> namespaces, boolean namespacesListed,
            boolean kernelMountSetattr, boolean kernelUserNamespaces) {
        this.mountOptions = Set.copyOf(mountOptions);
        this.namespaces = Set.copyOf(namespaces);
        this.mountOptionsListed = mountOptionsListed;
        this.namespacesListed = namespacesListed;
        this.kernelMountSetattr = kernelMountSetattr;
        this.kernelUserNamespaces = kernelUserNamespaces;
    }

    /**
     * The features of {@code binary} (a path, or a name looked up on PATH) on this host, asked
     * of it the first time and remembered after.
     */
    public static RuntimeFeatures probe(String binary) {
        return PROBED.computeIfAbsent(binary, RuntimeFeatures::ask);
    }

    private static RuntimeFeatures ask(String binary) {
        String document = "";
        try {
            Command.Result r = Command.of(binary, "features").timeout(TIMEOUT).outputCap(OUTPUT_CAP)
                    .drainAfterExit(Duration.ofSeconds(2)).execute();
            if (r.ok() && !r.outTruncated()) {
                document = r.stdout();
            } else {
                LOG.info("{} features: {}", binary, r.timedOut() ? "timed out" : r.outTruncated() ? "output too long"
                        : "exit status " + r.exitCode() + ": " + r.diagnostic());
            }
        } catch (IOException e) {
            LOG.info("cannot run {} features: {}", binary, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            // not remembered: a later probe asks again
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted while asking " + binary + " for its features", e);
        }
        return parse(document, small(OSRELEASE), small(MAX_USER_NAMESPACES));
    }

    /**
     * The features in a features document ({@code ""}: none) on a kernel of release
     * {@code osrelease} with {@code maxUserNamespaces} as its user namespace limit (either
     * {@code ""} when unknown).
     */
    static RuntimeFeatures parse(String document, String osrelease, String maxUserNamespaces) {
        Set<String> options = new TreeSet<>();
        Set<String> namespaces = new TreeSet<>();
        boolean optionsListed = false;
        boolean namespacesListed = false;
        if (!document.isBlank()) {
            try {
                JsonNode root = Json.mapper().readTree(document);
                optionsListed = root.path("mountOptions").isArray();
                namespacesListed = root.path("linux").path("namespaces").isArray();
                root.path("mountOptions").forEach(n -> {
                    if (n.isTextual()) {
                        options.add(n.asText());
                    }
                });
                root.path("linux").path("namespaces").forEach(n -> {
                    if (n.isTextual()) {
                        namespaces.add(n.asText());
                    }
                });
            } catch (IOException | RuntimeException e) {
                LOG.info("unreadable runtime features document: {}", e.getMessage());
                options.clear();
                namespaces.clear();
                optionsListed = false;
                namespacesListed = false;
            }
        }
        long maxUserns;
        try {
            maxUserns = Long.parseLong(maxUserNamespaces.strip());
        } catch (NumberFormatException e) {
            maxUserns = 0;
        }
        return new RuntimeFeatures(options, optionsListed, namespaces, namespacesListed, kernelAtLeast(osrelease, 5, 12),
                maxUserns > 0);
    }

    /** Whether the running kernel is at least {@code major.minor}; false when its release cannot be read. */
    public static boolean runningKernelAtLeast(int major, int minor) {
        return kernelAtLeast(small(OSRELEASE), major, minor);
    }

    /** Whether {@code osrelease} ("6.1.0-13-amd64") is at least {@code major.minor}; false when unreadable. */
    static boolean kernelAtLeast(String osrelease, int major, int minor) {
        Matcher m = Pattern.compile("^(\\d+)\\.(\\d+)").matcher(osrelease.strip());
        if (!m.find()) {
            return false;
        }
        try {
            int ma = Integer.parseInt(m.group(1));
            int mi = Integer.parseInt(m.group(2));
            return ma > major || (ma == major && mi >= minor);
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static String small(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    /**
     * Recursive read-only mounts: the runtime takes the {@code rro} mount option and the kernel
     * has mount_setattr (5.12) with which it makes a bind read-only with all its submounts.
     */
    public boolean recursiveReadOnlyMounts() {
        return kernelMountSetattr && mountOptions.contains("rro");
    }

    /** User namespaces: the runtime can make a {@code user} namespace and the kernel allows them. */
    public boolean userNamespaces() {
        return kernelUserNamespaces && namespaces.contains("user");
    }

    /**
     * Why recursive read-only mounts cannot work with this runtime here, known without trying:
     * the kernel lacks mount_setattr, or the runtime's features document lists mount options
     * without {@code rro}. Empty when only running a container can tell (also when the runtime
     * has no features document: crun 1.8).
     */
    public Optional<String> recursiveReadOnlyRuledOut() {
        if (!kernelMountSetattr) {
            return Optional.of("the kernel lacks mount_setattr (Linux 5.12)");
        }
        if (mountOptionsListed && !mountOptions.contains("rro")) {
            return Optional.of("the runtime's features document does not list the rro mount option");
        }
        return Optional.empty();
    }

    /**
     * Why user namespaces cannot work with this runtime here, known without trying: the kernel
     * allows none ({@code user.max_user_namespaces} 0 or unreadable), or the runtime's features
     * document lists namespaces without {@code user}. Empty when only running a container can tell.
     */
    public Optional<String> userNamespacesRuledOut() {
        if (!kernelUserNamespaces) {
            return Optional.of("the kernel allows no user namespaces (user.max_user_namespaces is 0 or unreadable)");
        }
        if (namespacesListed && !namespaces.contains("user")) {
            return Optional.of("the runtime's features document does not list the user namespace");
        }
        return Optional.empty();
    }

    /** The mount options the runtime lists (empty when it cannot say). */
    public Set<String> mountOptions() {
        return mountOptions;
    }

    @Override
    public String toString() {
        return "RuntimeFeatures[rro=" + recursiveReadOnlyMounts() + ", userns=" + userNamespaces() + ", mountOptions="
                + mountOptions.size() + ", namespaces=" + namespaces + "]";
    }
}
