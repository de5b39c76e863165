package dev.berth.agent.node;

import io.fabric8.kubernetes.api.model.Taint;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * How the agent presents its Node in connected mode. Every problem is an
 * IllegalArgumentException whose message starts with the setting's config key.
 * @param labels labels besides the kubelet's own (hostname, os, arch), set at registration and kept
 * @param registerWithTaints taints ("key=value:Effect", "key:Effect") the Node is created with, never reapplied
 * @param nodeIps the node's InternalIP addresses (at most one per family); empty: found from the default route
 * @param maxPods the node's pod capacity
 * @param systemReserved and {@code kubeReserved}: cpu, memory, ephemeral-storage, pid held back from allocatable
 * @param evictionHard hard eviction thresholds by signal ("100Mi", "10%"); they set the pressure conditions and
 *     (memory.available, nodefs.available) lower allocatable
 * @param statusUpdateFrequency how often the status is computed and, when it changed, written
 * @param statusReportFrequency the longest time between two writes of an unchanged status
 */
public record NodeSettings(Map<String, String> labels, List<String> registerWithTaints, List<String> nodeIps, int maxPods,
                           Map<String, String> systemReserved, Map<String, String> kubeReserved, Map<String, String> evictionHard,
                           Duration statusUpdateFrequency, Duration statusReportFrequency) {
    /** The resources that may be reserved. */
    public static final Set<String> RESERVABLE = Set.of("cpu", "memory", "ephemeral-storage", "pid");
    public static final int DEFAULT_MAX_PODS = 110;
    public static final Duration DEFAULT_STATUS_UPDATE_FREQUENCY = Duration.ofSeconds(10);
    public static final Duration DEFAULT_STATUS_REPORT_FREQUENCY = Duration.ofMinutes(5);

    public NodeSettings {
        labels = Map.copyOf(labels);
        registerWithTaints = List.copyOf(registerWithTaints);
        nodeIps = List.copyOf(nodeIps);
        systemReserved = Map.copyOf(systemReserved);
        kubeReserved = Map.copyOf(kubeReserved);
        evictionHard = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(evictionHard));
        labels.forEach(NodeSettings::checkLabel);
        registerWithTaints.forEach(NodeSettings::taint);
        checkIps(nodeIps);
        if (maxPods < 1) {
            throw new IllegalArgumentException("max_pods: must be at least 1, got " + maxPods);
        }
        reservation("system_reserved", systemReserved);
        reservation("kube_reserved", kubeReserved);
        thresholds(evictionHard);
        if (statusUpdateFrequency.isZero() || statusUpdateFrequency.isNegative()) {
            throw new IllegalArgumentException("node_status_update_frequency: must be positive");
        }
        if (statusReportFrequency.compareTo(statusUpdateFrequency) < 0) {
            throw new IllegalArgumentException("node_status_report_frequency: must not be shorter than node_status_update_frequency");
        }
    }

    /** The kubelet's defaults: no extra labels or taints, 110 pods, nothing reserved, its default thresholds, 10 s and 5 min. */
    public static NodeSettings defaults() {
        return new NodeSettings(Map.of(), List.of(), List.of(), DEFAULT_MAX_PODS, Map.of(), Map.of(), EvictionThreshold.DEFAULTS,
                DEFAULT_STATUS_UPDATE_FREQUENCY, DEFAULT_STATUS_REPORT_FREQUENCY);
    }

    /** The parsed thresholds, by signal. */
    public Map<String, EvictionThreshold> thresholds() {
        return thresholds(evictionHard);
    }

    /** The parsed taints the Node is registered with. */
    public List<Taint> taints() {
        return registerWithTaints.stream().map(NodeSettings::taint).toList();
    }

    /** A reservation in base units (millicores for cpu, bytes, pids) by resource. */
    public static Map<String, Long> reservation(String key, Map<String, String> values) {
        Map<String, Long> out = new LinkedHashMap<>();
        values.forEach((resource, v) -> {
            if (!RESERVABLE.contains(resource)) {
                throw new IllegalArgumentException(key + ": \"" + resource + "\" cannot be reserved (only cpu, memory, ephemeral-storage, pid)");
            }
            try {
                out.put(resource, resource.equals("cpu") ? Quantities.millis(v) : Quantities.units(v));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(key + ": \"" + resource + "\" = " + e.getMessage());
            }
        });
        return out;
    }

    private static Map<String, EvictionThreshold> thresholds(Map<String, String> values) {
        Map<String, EvictionThreshold> out = new LinkedHashMap<>();
        values.forEach((signal, v) -> {
            try {
                out.put(signal, EvictionThreshold.parse(signal, v));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("eviction_hard: " + e.getMessage());
            }
        });
        return out;
    }

    /** Parses "key=value:Effect" or "key:Effect" as the kubelet's --register-with-taints does. */
    public static Taint taint(String text) {
        int colon = text.lastIndexOf(':');
        String effect = colon < 0 ? "" : text.substring(colon + 1);
        if (!List.of("NoSchedule", "PreferNoSchedule", "NoExecute").contains(effect)) {
            throw new IllegalArgumentException("register_with_taints: \"" + text
                    + "\" must be key=value:Effect with Effect NoSchedule, PreferNoSchedule or NoExecute");
        }
        String kv = text.substring(0, colon);
        int eq = kv.indexOf('=');
        String key = eq < 0 ? kv : kv.substring(0, eq);
        String value = eq < 0 ? null : kv.substring(eq + 1);
        if (!qualifiedName(key) || (value != null && !labelValue(value))) {
            throw new IllegalArgumentException("register_with_taints: \"" + text + "\" has an invalid key or value");
        }
        return new io.fabric8.kubernetes.api.model.TaintBuilder().withKey(key).withValue(value).withEffect(effect).build();
    }

    private static void checkLabel(String key, String value) {
        if (!qualifiedName(key) || !labelValue(value)) {
            throw new IllegalArgumentException("node_labels: \"" + key + "\" = \"" + value + "\" is not a valid label");
        }
    }

    /** A qualified name: an optional DNS subdomain prefix and "/", then a name of at most 63 characters. */
    static boolean qualifiedName(String key) {
        int slash = key.indexOf('/');
        String name = slash < 0 ? key : key.substring(slash + 1);
        if (slash >= 0) {
            String prefix = key.substring(0, slash);
            if (prefix.isEmpty() || prefix.length() > 253 || !prefix.matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")) {
                return false;
            }
        }
        return !name.isEmpty() && name.length() <= 63 && name.matches("[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?");
    }

    static boolean labelValue(String value) {
        return value.isEmpty() || (value.length() <= 63 && value.matches("[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"));
    }

    private static void checkIps(List<String> ips) {
        List<Class<?>> families = new ArrayList<>();
        for (String ip : ips) {
            if (!ip.matches("[0-9.]+|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*")) {
                throw new IllegalArgumentException("node_ip: \"" + ip + "\" is not an IP address");
            }
            InetAddress a;
            try {
                a = InetAddress.getByName(ip); // a literal: no lookup
            } catch (java.net.UnknownHostException e) {
                throw new IllegalArgumentException("node_ip: \"" + ip + "\" is not an IP address");
            }
            if (a.isAnyLocalAddress() || families.contains(a.getClass())) {
                throw new IllegalArgumentException("node_ip: give one address, or two of different families, got " + ips);
            }
            families.add(a.getClass());
        }
    }
}
