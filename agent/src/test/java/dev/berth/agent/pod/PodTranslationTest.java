package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.staticpod.ManifestParser;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.KeyValue;
import dev.berth.cri.v1.LinuxContainerResources;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PortMapping;
import dev.berth.cri.v1.Protocol;
import dev.berth.cri.v1.SecurityProfile;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PodTranslationTest {
    private static final long GIB = 1L << 30;
    private static final NodeFacts NODE = new NodeFacts(8 * GIB, List.of("192.0.2.53"), List.of("example.org"), List.of("ndots:1"));
    private final PodTranslation translation = new PodTranslation(NODE, Path.of("/var/log/pods"));

    static Pod pod(String yaml) {
        return new ManifestParser("node-1").parse(Path.of("/m/pod.yaml"), yaml).get(0);
    }

    static final String WEB = """
            apiVersion: v1
            kind: Pod
            metadata:
              name: web
              namespace: shop
              labels: {app: web}
              annotations: {note: kept}
            spec:
              terminationGracePeriodSeconds: 7
              dnsConfig:
                nameservers: [198.51.100.1]
                searches: [svc.example]
                options: [{name: ndots, value: "5"}, {name: edns0}]
              securityContext:
                runAsUser: 1000
                fsGroup: 2000
                supplementalGroups: [3000]
                sysctls: [{name: net.ipv4.ping_group_range, value: "0 2147483647"}]
              containers:
              - name: app
                image: local/web:1
                workingDir: /srv
                command: ["/bin/httpd", "-p", "$(PORT)"]
                args: ["--greeting=$(GREETING)", "$$(PORT)", "$(UNDEFINED)"]
                env:
                - {name: PORT, value: "8080"}
                - {name: GREETING, value: "hi on $(PORT) in $(NS)"}
                - name: NS
                  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
                - name: IP
                  valueFrom: {fieldRef: {fieldPath: status.podIP}}
                - name: APP
                  valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
                ports:
                - {name: http, containerPort: 8080, hostPort: 18080}
                - {containerPort: 53, protocol: UDP}
                resources:
                  requests: {cpu: 250m, memory: 1Gi}
                  limits: {cpu: "1", memory: 2Gi}
                securityContext:
                  allowPrivilegeEscalation: false
                  readOnlyRootFilesystem: true
                  capabilities: {add: [NET_ADMIN, CAP_SYS_TIME], drop: [all]}
            """;

    @Test
    void theSandboxCarriesTheKubeletsMetadataLabelsAndAnnotations() {
        Pod pod = pod(WEB);
        PodSandboxConfig c = translation.sandboxConfig(pod, 2, KubeletKeys.SOURCE_FILE);
        String uid = pod.getMetadata().getUid();
        assertEquals("web-node-1", c.getMetadata().getName());
        assertEquals("shop", c.getMetadata().getNamespace());
        assertEquals(uid, c.getMetadata().getUid());
        assertEquals(2, c.getMetadata().getAttempt());
        assertEquals(Map.of("app", "web", KubeletKeys.POD_NAME, "web-node-1", KubeletKeys.POD_NAMESPACE, "shop",
                KubeletKeys.POD_UID, uid, KubeletKeys.POD_SOURCE, "file"), c.getLabelsMap());
        assertEquals("kept", c.getAnnotationsMap().get("note"));
        assertEquals("file", c.getAnnotationsMap().get(KubeletKeys.CONFIG_SOURCE));
        assertEquals("/var/log/pods/shop_web-node-1_" + uid, c.getLogDirectory());
        assertEquals("web-node-1", c.getHostname());
        assertEquals(List.of(PortMapping.newBuilder().setProtocol(Protocol.TCP).setContainerPort(8080).setHostPort(18080).build()),
                c.getPortMappingsList(), "only ports with a host port are mapped");
        assertEquals(NamespaceMode.POD, c.getLinux().getSecurityContext().getNamespaceOptions().getNetwork());
        assertEquals(NamespaceMode.CONTAINER, c.getLinux().getSecurityContext().getNamespaceOptions().getPid());
        assertEquals(1000, c.getLinux().getSecurityContext().getRunAsUser().getValue());
        assertEquals(List.of(2000L, 3000L), c.getLinux().getSecurityContext().getSupplementalGroupsList());
        assertEquals(SecurityProfile.ProfileType.Unconfined, c.getLinux().getSecurityContext().getSeccomp().getProfileType());
        assertEquals(Map.of("net.ipv4.ping_group_range", "0 2147483647"), c.getLinux().getSysctlsMap());
        // ClusterFirst without cluster DNS is the machine's resolver, and the pod's dnsConfig is added
        assertEquals(List.of("192.0.2.53", "198.51.100.1"), c.getDnsConfig().getServersList());
        assertEquals(List.of("example.org", "svc.example"), c.getDnsConfig().getSearchesList());
        assertEquals(List.of("ndots:5", "edns0"), c.getDnsConfig().getOptionsList(), "the pod's ndots replaces the machine's");
    }

    @Test
    void clusterFirstResolvesThroughTheClusterDnsWithTheNamespacesSearchPath() {
        PodTranslation cluster = new PodTranslation(NODE, Path.of("/var/log/pods")).withClusterDns(List.of("10.96.0.10"), "cluster.local");
        PodSandboxConfig c = cluster.sandboxConfig(pod(WEB), 0, KubeletKeys.SOURCE_API);
        assertEquals(List.of("10.96.0.10", "198.51.100.1"), c.getDnsConfig().getServersList());
        assertEquals(List.of("shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "example.org", "svc.example"),
                c.getDnsConfig().getSearchesList(), "the cluster's search path first, then the machine's, then the pod's");
        assertEquals(List.of("ndots:5", "edns0"), c.getDnsConfig().getOptionsList());

        Pod onHost = pod(WEB.replace("  terminationGracePeriodSeconds: 7\n", "  hostNetwork: true\n"));
        assertEquals(List.of("192.0.2.53", "198.51.100.1"), cluster.sandboxConfig(onHost, 0, KubeletKeys.SOURCE_API)
                .getDnsConfig().getServersList(), "plain ClusterFirst on the host network is Default");
        Pod withHostNet = pod(WEB.replace("  terminationGracePeriodSeconds: 7\n", "  hostNetwork: true\n  dnsPolicy: ClusterFirstWithHostNet\n"));
        assertEquals("10.96.0.10", cluster.sandboxConfig(withHostNet, 0, KubeletKeys.SOURCE_API).getDnsConfig().getServers(0));
        Pod byDefault = pod(WEB.replace("  terminationGracePeriodSeconds: 7\n", "  dnsPolicy: Default\n"));
        assertEquals("192.0.2.53", cluster.sandboxConfig(byDefault, 0, KubeletKeys.SOURCE_API).getDnsConfig().getServers(0));
    }

    @Test
    void hostNamespacesAndDnsPolicies() {
        Pod pod = pod(WEB.replace("  terminationGracePeriodSeconds: 7\n",
                "  hostNetwork: true\n  hostPID: true\n  hostIPC: true\n  dnsPolicy: None\n"));
        PodSandboxConfig c = translation.sandboxConfig(pod, 0, KubeletKeys.SOURCE_FILE);
        assertEquals("", c.getHostname(), "a host-network pod has the node's host name");
        assertEquals(NamespaceMode.NODE, c.getLinux().getSecurityContext().getNamespaceOptions().getNetwork());
        assertEquals(NamespaceMode.NODE, c.getLinux().getSecurityContext().getNamespaceOptions().getPid());
        assertEquals(NamespaceMode.NODE, c.getLinux().getSecurityContext().getNamespaceOptions().getIpc());
        assertEquals(List.of("198.51.100.1"), c.getDnsConfig().getServersList(), "None: the pod's dnsConfig only");
        Pod shared = pod(WEB.replace("  terminationGracePeriodSeconds: 7\n", "  shareProcessNamespace: true\n  hostname: custom\n"));
        PodSandboxConfig s = translation.sandboxConfig(shared, 0, KubeletKeys.SOURCE_FILE);
        assertEquals(NamespaceMode.POD, s.getLinux().getSecurityContext().getNamespaceOptions().getPid());
        assertEquals("custom", s.getHostname());
        assertEquals(63, PodTranslation.hostname(pod(WEB.replace("name: web\n", "name: " + "a".repeat(61) + "\n"))).length());
    }

    @Test
    void theContainerGetsItsExpandedCommandEnvAndKubeletKeys() {
        Pod pod = pod(WEB);
        Container app = pod.getSpec().getContainers().get(0);
        ContainerConfig c = translation.containerConfig(pod, app, 3, "sha256:abc", List.of("10.1.2.3"));
        assertEquals("app", c.getMetadata().getName());
        assertEquals(3, c.getMetadata().getAttempt());
        assertEquals("sha256:abc", c.getImage().getImage());
        assertEquals("local/web:1", c.getImage().getUserSpecifiedImage());
        assertEquals(List.of("/bin/httpd", "-p", "8080"), c.getCommandList());
        assertEquals(List.of("--greeting=hi on 8080 in $(NS)", "$(PORT)", "$(UNDEFINED)"), c.getArgsList(),
                "NS is defined after GREETING, so GREETING keeps $(NS)");
        Map<String, String> env = new LinkedHashMap<>();
        for (KeyValue kv : c.getEnvsList()) {
            env.put(kv.getKey(), kv.getValue().toStringUtf8());
        }
        assertEquals(List.of("PORT", "GREETING", "NS", "IP", "APP"), List.copyOf(env.keySet()));
        assertEquals("shop", env.get("NS"));
        assertEquals("10.1.2.3", env.get("IP"));
        assertEquals("web", env.get("APP"));
        assertEquals("/srv", c.getWorkingDir());
        assertEquals("app/3.log", c.getLogPath());
        assertEquals(Map.of(KubeletKeys.POD_NAME, "web-node-1", KubeletKeys.POD_NAMESPACE, "shop",
                KubeletKeys.POD_UID, pod.getMetadata().getUid(), KubeletKeys.CONTAINER_NAME, "app"), c.getLabelsMap());
        assertEquals("3", c.getAnnotationsMap().get(KubeletKeys.CONTAINER_RESTART_COUNT));
        assertEquals("7", c.getAnnotationsMap().get(KubeletKeys.POD_TERMINATION_GRACE_PERIOD));
        assertEquals("/dev/termination-log", c.getAnnotationsMap().get(KubeletKeys.CONTAINER_TERMINATION_MESSAGE_PATH));
        assertEquals("[{\"name\":\"http\",\"hostPort\":18080,\"containerPort\":8080,\"protocol\":\"TCP\"},"
                + "{\"containerPort\":53,\"protocol\":\"UDP\"}]", c.getAnnotationsMap().get(KubeletKeys.CONTAINER_PORTS));
        var sc = c.getLinux().getSecurityContext();
        assertTrue(sc.getNoNewPrivs());
        assertTrue(sc.getReadonlyRootfs());
        assertFalse(sc.getPrivileged());
        assertEquals(1000, sc.getRunAsUser().getValue(), "the pod's runAsUser when the container sets none");
        assertEquals(List.of("NET_ADMIN", "SYS_TIME"), sc.getCapabilities().getAddCapabilitiesList());
        assertEquals(List.of("ALL"), sc.getCapabilities().getDropCapabilitiesList());
        assertTrue(sc.getMaskedPathsList().contains("/proc/kcore"));
        assertTrue(sc.getReadonlyPathsList().contains("/proc/sys"));
    }

    @Test
    void resourcesFollowTheKubeletsFormulas() {
        Pod pod = pod(WEB);
        LinuxContainerResources r = translation.containerConfig(pod, pod.getSpec().getContainers().get(0), 0, "i", List.of())
                .getLinux().getResources();
        assertEquals(256, r.getCpuShares(), "250m is 256 shares");
        assertEquals(100_000, r.getCpuPeriod());
        assertEquals(100_000, r.getCpuQuota(), "1 cpu is a full period");
        assertEquals(2 * GIB, r.getMemoryLimitInBytes());
        assertEquals(QosClass.BURSTABLE, QosClass.of(pod.getSpec()));
        assertEquals(1000 - 1000 / 8, r.getOomScoreAdj(), "Burstable: 1000 less the request's thousandths of the machine");

        Pod guaranteed = pod(WEB.replace("requests: {cpu: 250m, memory: 1Gi}", "requests: {cpu: \"1\", memory: 2Gi}"));
        assertEquals(QosClass.GUARANTEED, QosClass.of(guaranteed.getSpec()));
        assertEquals(-997, translation.containerConfig(guaranteed, guaranteed.getSpec().getContainers().get(0), 0, "i", List.of())
                .getLinux().getResources().getOomScoreAdj());
        Pod limitsOnly = pod(WEB.replace("      requests: {cpu: 250m, memory: 1Gi}\n", "").replace("limits: {cpu: \"1\", memory: 2Gi}",
                "limits: {cpu: 5m, memory: 2Gi}"));
        assertEquals(QosClass.GUARANTEED, QosClass.of(limitsOnly.getSpec()), "a missing request is the limit");
        LinuxContainerResources small = translation.containerConfig(limitsOnly, limitsOnly.getSpec().getContainers().get(0), 0, "i",
                List.of()).getLinux().getResources();
        assertEquals(5, small.getCpuShares(), "shares from the limit when there is no request");
        assertEquals(1000, small.getCpuQuota(), "the quota is at least 1 ms");

        Pod bestEffort = pod(WEB.replaceAll("(?s)    resources:.*?limits: \\{cpu: \"1\", memory: 2Gi\\}\n", ""));
        assertEquals(QosClass.BEST_EFFORT, QosClass.of(bestEffort.getSpec()));
        LinuxContainerResources none = translation.containerConfig(bestEffort, bestEffort.getSpec().getContainers().get(0), 0, "i",
                List.of()).getLinux().getResources();
        assertEquals(2, none.getCpuShares());
        assertEquals(0, none.getCpuQuota());
        assertEquals(0, none.getMemoryLimitInBytes());
        assertEquals(1000, none.getOomScoreAdj());
        assertEquals(2, translation.oomScoreAdj(QosClass.BURSTABLE, 8 * GIB), "at least 2");
        assertEquals(999, translation.oomScoreAdj(QosClass.BURSTABLE, 0), "at most 999");
    }

    @Test
    void envFromASecretWithoutAnApiServerIsAConfigErrorNamingTheVariable() {
        Pod pod = pod(WEB.replace("- {name: PORT, value: \"8080\"}",
                "- name: SECRET\n      valueFrom: {secretKeyRef: {name: s, key: k}}"));
        ContainerConfigException e = assertThrows(ContainerConfigException.class,
                () -> translation.containerConfig(pod, pod.getSpec().getContainers().get(0), 0, "i", List.of()));
        assertEquals("CreateContainerConfigError", e.reason());
        assertTrue(e.getMessage().contains("env SECRET of container app"), e.getMessage());
    }

    @Test
    void privilegedContainersMakeAPrivilegedSandboxAndGetNoMaskedPaths() {
        Pod pod = pod(WEB.replace("allowPrivilegeEscalation: false", "privileged: true"));
        assertTrue(translation.sandboxConfig(pod, 0, "file").getLinux().getSecurityContext().getPrivileged());
        var sc = translation.containerConfig(pod, pod.getSpec().getContainers().get(0), 0, "i", List.of()).getLinux().getSecurityContext();
        assertTrue(sc.getPrivileged());
        assertTrue(sc.getMaskedPathsList().isEmpty());
    }

    @Test
    void defaultPullPolicyFollowsTheTag() {
        assertEquals("Always", PodSync.defaultPullPolicy("busybox"));
        assertEquals("Always", PodSync.defaultPullPolicy("registry:5000/busybox:latest"));
        assertEquals("IfNotPresent", PodSync.defaultPullPolicy("registry:5000/busybox"
                .replace("busybox", "busybox:1.36")));
        assertEquals("Always", PodSync.defaultPullPolicy("registry:5000/busybox"), "a registry port is not a tag");
        assertEquals("IfNotPresent", PodSync.defaultPullPolicy("busybox@sha256:0123"));
    }

    @Test
    void podsWithoutTheHostsUsersGetTheirOwnUserNamespaceInTheSandboxAndEveryContainer(@org.junit.jupiter.api.io.TempDir Path state) {
        Pod pod = pod(WEB.replace("  terminationGracePeriodSeconds: 7\n", "  hostUsers: false\n"));
        assertThrows(UserNamespaces.UserNamespaceException.class, () -> translation.sandboxConfig(pod, 0, KubeletKeys.SOURCE_API),
                "without an allocator no user namespace can be had");
        PodTranslation withUserns = new PodTranslation(NODE, Path.of("/var/log/pods"))
                .withUserNamespaces(new UserNamespaces(new PodDirs(state), 65536, 4 * 65536, h -> true));
        PodSandboxConfig s = withUserns.sandboxConfig(pod, 0, KubeletKeys.SOURCE_API);
        var userns = s.getLinux().getSecurityContext().getNamespaceOptions().getUsernsOptions();
        assertEquals(NamespaceMode.POD, userns.getMode());
        assertEquals(65536, userns.getUids(0).getHostId());
        ContainerConfig c = withUserns.containerConfig(pod, pod.getSpec().getContainers().get(0), 0, "img", List.of());
        assertEquals(userns, c.getLinux().getSecurityContext().getNamespaceOptions().getUsernsOptions(),
                "the container repeats the pod's user namespace, as the kubelet sends it");
        assertEquals(NamespaceMode.NODE, withUserns.sandboxConfig(pod(WEB), 0, KubeletKeys.SOURCE_API)
                .getLinux().getSecurityContext().getNamespaceOptions().getUsernsOptions().getMode());
    }

    @Test
    void theSupplementalGroupsPolicyReachesTheSandboxAndTheContainers() {
        Pod merge = pod(WEB);
        assertEquals(dev.berth.cri.v1.SupplementalGroupsPolicy.Merge,
                translation.sandboxConfig(merge, 0, KubeletKeys.SOURCE_API).getLinux().getSecurityContext().getSupplementalGroupsPolicy());
        Pod strict = pod(WEB.replace("    fsGroup: 2000\n", "    fsGroup: 2000\n    supplementalGroupsPolicy: Strict\n"));
        assertEquals(dev.berth.cri.v1.SupplementalGroupsPolicy.Strict,
                translation.sandboxConfig(strict, 0, KubeletKeys.SOURCE_API).getLinux().getSecurityContext().getSupplementalGroupsPolicy());
        assertEquals(dev.berth.cri.v1.SupplementalGroupsPolicy.Strict, translation.containerConfig(strict,
                strict.getSpec().getContainers().get(0), 0, "img", List.of()).getLinux().getSecurityContext().getSupplementalGroupsPolicy());
    }
}
