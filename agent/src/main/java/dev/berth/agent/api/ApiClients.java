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

/** The agent's client of the API server in connected mode, from a kubeconfig file or the pod's service account (in cluster). */
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

    /**
     * A client from the service account of the pod the agent runs in: fabric8's own in-cluster
     * configuration (KUBERNETES_SERVICE_HOST and _PORT, the account's token and CA under
     * /var/run/secrets/kubernetes.io/serviceaccount), which reads the token again when the API
     * server refuses it, so rotated tokens keep working. No kubeconfig file is consulted.
     * @throws IllegalArgumentException when the agent does not run in a cluster
     */
    public static KubernetesClient inCluster() {
        requireInCluster(System.getenv(), Path.of(Config.KUBERNETES_SERVICE_ACCOUNT_TOKEN_PATH));
        // fabric8's auto-configuration would otherwise prefer ~/.kube/config, also when it refreshes the token
        System.setProperty(Config.KUBERNETES_AUTH_TRYKUBECONFIG_SYSTEM_PROPERTY, "false");
        return new KubernetesClientBuilder().withConfig(Config.autoConfigure(null)).build();
    }

    static void requireInCluster(java.util.Map<String, String> env, Path token) {
        String host = env.get("KUBERNETES_SERVICE_HOST");
        String port = env.get("KUBERNETES_SERVICE_PORT");
        if (host == null || host.isEmpty() || port == null || port.isEmpty() || !Files.isRegularFile(token)) {
            throw new IllegalArgumentException("not running in a cluster: in-cluster configuration needs KUBERNETES_SERVICE_HOST,"
                    + " KUBERNETES_SERVICE_PORT and the service account token " + token);
        }
    }
}
