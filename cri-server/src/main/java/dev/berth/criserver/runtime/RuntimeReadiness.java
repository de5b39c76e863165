package dev.berth.criserver.runtime;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * RuntimeReady: the default handler's OCI runtime can be found and executed, and berth's state
 * directories exist and are writable.
 */
public final class RuntimeReadiness implements Readiness.Check {
    private final String handlerName;
    private final String binary;
    private final java.util.List<Path> stateDirectories;

    /** Ready while {@code binary}, the default handler's OCI runtime, can be run and every state directory written. */
    public RuntimeReadiness(String handlerName, String binary, java.util.List<Path> stateDirectories) {
        this.handlerName = handlerName;
        this.binary = binary;
        this.stateDirectories = java.util.List.copyOf(stateDirectories);
    }

    @Override
    public Readiness check() {
        if (Executables.find(binary).isEmpty()) {
            return Readiness.notReady(Readiness.RUNTIME_READY, "OCIRuntimeNotFound",
                    "the OCI runtime \"" + binary + "\" of the default handler \"" + handlerName
                            + "\" is not an executable file or on PATH");
        }
        for (Path dir : stateDirectories) {
            if (!Files.isDirectory(dir) || !Files.isWritable(dir)) {
                return Readiness.notReady(Readiness.RUNTIME_READY, "StateDirectoryUnusable",
                        "berth's state directory " + dir + " is missing or not writable");
            }
        }
        return Readiness.ready(Readiness.RUNTIME_READY);
    }

    /** Looks programs up the way a shell does. */
    public static final class Executables {
        private Executables() {
        }

        public static Optional<Path> find(String nameOrPath) {
            if (nameOrPath.contains("/")) {
                Path p = Path.of(nameOrPath);
                return Files.isRegularFile(p) && Files.isExecutable(p) ? Optional.of(p) : Optional.empty();
            }
            String path = System.getenv().getOrDefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
            for (String dir : (path + ":/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
                if (dir.isEmpty()) {
                    continue;
                }
                Path p = Path.of(dir, nameOrPath);
                if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                    return Optional.of(p);
                }
            }
            return Optional.empty();
        }
    }
}
