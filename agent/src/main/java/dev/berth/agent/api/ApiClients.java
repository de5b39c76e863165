package dev.berth.agent.api;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/** The agent's client of the API server in connected mode, from a kubeconfig file. */
public final class ApiClients {
    /** A kubeconfig larger than this is refused, not read (real ones are a few KiB, with certificates). */
    static final long MAX_KUBECONFIG_BYTES = 1L << 20;

    private ApiClients() {
    }

    /**
     * A client for the current context of the kubeconfig at {@code path}: a regular file of at
     * most 1 MiB; its credentials go only to the server it names.
     * @throws IllegalArgumentException when the file cannot be read or used
     */
    public static KubernetesClient fromKubeconfig(Path path) {
        String text;
        try {
            BasicFileAttributes attrs = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (attrs.isSymbolicLink()) {
                attrs = Files.readAttributes(path, BasicFileAttributes.class);
            }
            if (!attrs.isRegularFile()) {
                throw new IllegalArgumentException("kubeconfig " + path + " is not a regular file");
            }
            if (attrs.size() > MAX_KUBECONFIG_BYTES) {
                throw new IllegalArgumentException("kubeconfig " + path + " is larger than " + MAX_KUBECONFIG_BYTES + " bytes");
            }
            text = Files.readString(path, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read kubeconfig " + path + ": " + e.getMessage());
        }
        Config config;
        try {
            config = Config.fromKubeconfig(null, text, path.toString());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("kubeconfig " + path + " is not usable: " + e.getMessage());
        }
        return new KubernetesClientBuilder().withConfig(config).build();
    }
}
