package dev.berth.podsandbox.container.spec;

import java.util.List;

/**
 * The parts of an OCI image configuration a container spec is built from. Lists are never
 * null (empty when the image does not set them); strings may be empty.
 */
public record ImageConfig(
        List<String> entrypoint,
        List<String> cmd,
        List<String> env,
        String workingDir,
        String user,
        String stopSignal) {
    public ImageConfig {
        entrypoint = entrypoint == null ? List.of() : List.copyOf(entrypoint);
        cmd = cmd == null ? List.of() : List.copyOf(cmd);
        env = env == null ? List.of() : List.copyOf(env);
        workingDir = workingDir == null ? "" : workingDir;
        user = user == null ? "" : user;
        stopSignal = stopSignal == null ? "" : stopSignal;
    }

    public static ImageConfig empty() {
        return new ImageConfig(List.of(), List.of(), List.of(), "", "", "");
    }
}
