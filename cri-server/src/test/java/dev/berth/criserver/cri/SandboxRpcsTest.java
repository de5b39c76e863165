package dev.berth.criserver.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import dev.berth.cri.v1.DNSConfig;
import dev.berth.cri.v1.HugepageLimit;
import dev.berth.cri.v1.IDMapping;
import dev.berth.cri.v1.LinuxContainerResources;
import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxSandboxSecurityContext;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PortMapping;
import dev.berth.cri.v1.Protocol;
import dev.berth.cri.v1.UserNamespace;
import dev.berth.networking.PodNetwork;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The translation of a CRI PodSandboxConfig into berth's own SandboxConfig. */
class SandboxRpcsTest {
    static PodSandboxConfig.Builder base() {
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName("web").setNamespace("prod").setUid("u-1").setAttempt(2));
    }

    @Test
    void everyFieldIsCarriedOver() {
        PodSandboxConfig c = base()
                .setHostname("web-0").setLogDirectory("/var/log/pods/x")
                .setDnsConfig(DNSConfig.newBuilder().addServers("10.96.0.10").addSearches("svc.cluster.local").addOptions("ndots:5"))
                .addPortMappings(PortMapping.newBuilder().setProtocol(Protocol.UDP).setContainerPort(53).setHostPort(5353).setHostIp("127.0.0.1"))
                .putLabels("app", "web").putAnnotations("a", "b").putAnnotations(SandboxRpcs.SHM_SIZE_ANNOTATION, "1048576")
                .setLinux(LinuxPodSandboxConfig.newBuilder().setCgroupParent("/kubepods/burstable")
                        .putSysctls("net.core.somaxconn", "1024")
                        .setResources(LinuxContainerResources.newBuilder().setCpuShares(512).setMemoryLimitInBytes(1 << 30)
                                .addHugepageLimits(HugepageLimit.newBuilder().setPageSize("2MB").setLimit(4 << 20)))
                        .setSecurityContext(LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(
                                NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE).setPid(NamespaceMode.TARGET)
                                        .setIpc(NamespaceMode.NODE).setTargetId("c1"))))
                .build();
        SandboxConfig s = SandboxRpcs.toConfig(c, "crun");
        assertEquals(new SandboxConfig.Metadata("web", "u-1", "prod", 2), s.metadata());
        assertEquals("web-0", s.hostname());
        assertEquals("/var/log/pods/x", s.logDirectory());
        assertEquals(new SandboxConfig.Dns(List.of("10.96.0.10"), List.of("svc.cluster.local"), List.of("ndots:5")), s.dns());
        assertEquals(Map.of("app", "web"), s.labels());
        assertEquals(Map.of("a", "b", SandboxRpcs.SHM_SIZE_ANNOTATION, "1048576"), s.annotations());
        assertEquals(List.of(new PodNetwork.PortMapping("udp", 53, 5353, "127.0.0.1")), s.portMappings());
        assertEquals("/kubepods/burstable", s.cgroupParent());
        assertEquals(Map.of("net.core.somaxconn", "1024"), s.sysctls());
        assertEquals(new SandboxConfig.NamespaceOptions(SandboxConfig.NamespaceMode.NODE, SandboxConfig.NamespaceMode.TARGET,
                SandboxConfig.NamespaceMode.NODE, "c1"), s.namespaces());
        Resources r = s.resources();
        assertEquals(512L, r.cpuShares());
        assertEquals(1L << 30, r.memoryLimitBytes());
        assertNull(r.cpuQuota());
        assertEquals(Map.of("2MB", 4L << 20), r.hugepageLimits());
        assertNull(s.overhead());
        assertEquals(1048576L, s.shmSizeBytes());
        assertEquals("crun", s.runtimeHandler());
    }

    @Test
    void aConfigWithoutLinuxPartSharesNetworkIpcAndPidInThePod() {
        SandboxConfig s = SandboxRpcs.toConfig(base().build(), "");
        assertEquals(new SandboxConfig.NamespaceOptions(SandboxConfig.NamespaceMode.POD, SandboxConfig.NamespaceMode.POD,
                SandboxConfig.NamespaceMode.POD, ""), s.namespaces());
        assertEquals(SandboxConfig.DEFAULT_SHM_SIZE, s.shmSizeBytes());
    }

    @Test
    void badInputIsInvalidArgument() {
        for (PodSandboxConfig bad : List.of(
                PodSandboxConfig.newBuilder().build(),
                base().putAnnotations(SandboxRpcs.SHM_SIZE_ANNOTATION, "lots").build(),
                base().addPortMappings(PortMapping.newBuilder().setContainerPort(0)).build(),
                base().setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setUsernsOptions(UserNamespace.newBuilder()
                                .setMode(NamespaceMode.POD).addUids(IDMapping.newBuilder().setHostId(100000).setLength(65536)))))).build())) {
            BerthException e = assertThrows(BerthException.class, () -> SandboxRpcs.toConfig(bad, ""));
            assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind(), e.getMessage());
        }
    }
}
