package dev.berth.agent.volume;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceFieldSelector;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The values of the downward API, shared by env and downwardAPI volumes: the pod's metadata
 * fields (labels and annotations as sorted {@code key="value"} lines, as the kubelet writes
 * them) and a container's resources, rounded up to whole units of the divisor, with the
 * node's allocatable standing in for a limit the container does not set.
 */
public final class DownwardApi {
    private DownwardApi() {
    }

    /** A metadata field a downwardAPI volume may expose, or a {@link VolumeException} for any other. */
    public static String metadataField(Pod pod, String path) {
        var meta = pod.getMetadata();
        if (path.startsWith("metadata.labels['") && path.endsWith("']")) {
            return orEmpty(meta.getLabels()).getOrDefault(path.substring(17, path.length() - 2), "");
        }
        if (path.startsWith("metadata.annotations['") && path.endsWith("']")) {
            return orEmpty(meta.getAnnotations()).getOrDefault(path.substring(22, path.length() - 2), "");
        }
        return switch (path) {
            case "metadata.name" -> meta.getName();
            case "metadata.namespace" -> meta.getNamespace();
            case "metadata.uid" -> meta.getUid();
            case "metadata.labels" -> formatMap(meta.getLabels());
            case "metadata.annotations" -> formatMap(meta.getAnnotations());
            default -> throw new VolumeException("downward API field " + path + " is not supported in a volume");
        };
    }

    /** {@code key="value"} lines sorted by key, values quoted with Go's escapes, no final newline. */
    static String formatMap(Map<String, String> m) {
        List<String> lines = new ArrayList<>();
        for (Map.Entry<String, String> e : new TreeMap<>(orEmpty(m)).entrySet()) {
            lines.add(e.getKey() + "=" + quote(e.getValue()));
        }
        return String.join("\n", lines);
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\t' -> b.append("\\t");
                case '\r' -> b.append("\\r");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        b.append(String.format("\\x%02x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    /**
     * The value of {@code ref} for {@code container}: {@code limits.*} and {@code requests.*} of
     * cpu, memory and ephemeral-storage divided by the divisor (default 1) and rounded up.
     */
    public static String resource(Container container, ResourceFieldSelector ref, NodeAllocatable node) {
        String resource = ref.getResource();
        String name = resource.substring(resource.indexOf('.') + 1);
        Map<String, Quantity> limits = container.getResources() == null || container.getResources().getLimits() == null ? Map.of()
                : container.getResources().getLimits();
        Map<String, Quantity> requests = container.getResources() == null || container.getResources().getRequests() == null ? Map.of()
                : container.getResources().getRequests();
        BigDecimal amount;
        if (resource.startsWith("limits.")) {
            Quantity q = limits.get(name);
            amount = q != null ? q.getNumericalAmount() : switch (name) {
                case "cpu" -> BigDecimal.valueOf(node.cpuMillis()).movePointLeft(3);
                case "memory" -> BigDecimal.valueOf(node.memoryBytes());
                case "ephemeral-storage" -> BigDecimal.valueOf(node.ephemeralStorageBytes());
                default -> null;
            };
        } else if (resource.startsWith("requests.")) {
            // the API server defaults a missing request to the limit
            Quantity q = requests.getOrDefault(name, limits.get(name));
            amount = q != null ? q.getNumericalAmount() : BigDecimal.ZERO;
        } else {
            amount = null;
        }
        if (amount == null || !List.of("cpu", "memory", "ephemeral-storage").contains(name)) {
            throw new VolumeException("resource field " + resource + " is not supported");
        }
        BigDecimal divisor = ref.getDivisor() == null || ref.getDivisor().getAmount() == null || ref.getDivisor().getAmount().isEmpty()
                ? BigDecimal.ONE : ref.getDivisor().getNumericalAmount();
        if (divisor.signum() <= 0) {
            throw new VolumeException("resource field " + resource + ": divisor " + ref.getDivisor() + " is not positive");
        }
        return amount.divide(divisor, 0, RoundingMode.CEILING).toPlainString();
    }

    private static Map<String, String> orEmpty(Map<String, String> m) {
        return m == null ? Map.of() : m;
    }
}
