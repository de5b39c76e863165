package dev.berth.criserver.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.berth.common.BerthException;
import dev.berth.cri.v1.Capability;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.HugepageLimit;
import dev.berth.cri.v1.Int64Value;
import dev.berth.cri.v1.KeyValue;
import dev.berth.cri.v1.LinuxContainerConfig;
import dev.berth.cri.v1.LinuxContainerResources;
import dev.berth.cri.v1.LinuxContainerSecurityContext;
import dev.berth.cri.v1.Mount;
import dev.berth.cri.v1.MountPropagation;
import dev.berth.cri.v1.SecurityProfile;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The translation of CRI container messages into the container engine's config. */
class ContainerTranslationTest {
    static ContainerConfig.Builder base() {
        return ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName("app").setAttempt(2));
    }

    @Test
    void carriesCommandEnvMountsSecurityAndResources() {
        ContainerConfig c = base()
                .addCommand("sh").addArgs("-c").addArgs("true")
                .setWorkingDir("/work")
                .addEnvs(KeyValue.newBuilder().setKey("A").setValue(ByteString.copyFromUtf8("1")))
                .addMounts(Mount.newBuilder().setContainerPath("/data").setHostPath("/srv").setReadonly(true)
                        .setPropagation(MountPropagation.PROPAGATION_HOST_TO_CONTAINER))
                .setTty(true)
                .setLinux(LinuxContainerConfig.newBuilder()
                        .setResources(LinuxContainerResources.newBuilder().setCpuShares(512).setMemoryLimitInBytes(1 << 26)
                                .setOomScoreAdj(100).addHugepageLimits(HugepageLimit.newBuilder().setPageSize("2MB").setLimit(4096)))
                        .setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                                .setCapabilities(Capability.newBuilder().addAddCapabilities("NET_ADMIN").addDropCapabilities("ALL"))
                                .setRunAsUser(Int64Value.newBuilder().setValue(1000))
                                .setRunAsGroup(Int64Value.newBuilder().setValue(2000))
                                .addSupplementalGroups(3000)
                                .setReadonlyRootfs(true)
                                .setNoNewPrivs(true)
                                .setSeccomp(SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.Localhost)
                                        .setLocalhostRef("/etc/profile.json"))))
                .build();
        var config = ContainerTranslation.config(c, "/logs/app/2.log");
        assertEquals("app", config.name());
        assertEquals(2, config.attempt());
        assertEquals(List.of("sh"), config.command());
        assertEquals(List.of("-c", "true"), config.args());
        assertEquals(Map.of("A", "1"), config.envs());
        assertEquals("/work", config.workingDir());
        assertEquals("/logs/app/2.log", config.logPath());
        assertTrue(config.tty());
        assertEquals(List.of(new dev.berth.podsandbox.container.spec.ContainerConfig.Mount("/data", "/srv", true,
                dev.berth.podsandbox.container.spec.ContainerConfig.Propagation.HOST_TO_CONTAINER)), config.mounts());
        assertEquals(512L, config.resources().cpuShares());
        assertEquals(1L << 26, config.resources().memoryLimitBytes());
        assertEquals(100L, config.resources().oomScoreAdj());
        assertNull(config.resources().cpuQuota(), "unset stays unset");
        assertEquals(Map.of("2MB", 4096L), config.resources().hugepageLimits());
        var sec = config.security();
        assertEquals(List.of("NET_ADMIN"), sec.addCapabilities());
        assertEquals(List.of("ALL"), sec.dropCapabilities());
        assertEquals(1000L, sec.runAsUser());
        assertEquals(2000L, sec.runAsGroup());
        assertEquals(List.of(3000L), sec.supplementalGroups());
        assertTrue(sec.readonlyRootfs());
        assertTrue(sec.noNewPrivs());
        assertNull(sec.maskedPaths(), "an empty masked path list means the defaults");
        assertNull(sec.readonlyPaths());
        assertEquals(dev.berth.podsandbox.container.spec.ContainerConfig.SeccompProfile.localhost("/etc/profile.json"), sec.seccomp());

        // and back, as ContainerStatus reports them
        LinuxContainerResources back = ContainerTranslation.resources(config.resources());
        assertEquals(512, back.getCpuShares());
        assertEquals(1 << 26, back.getMemoryLimitInBytes());
        assertEquals(0, back.getCpuQuota());
        assertEquals(4096, back.getHugepageLimits(0).getLimit());
    }

    @Test
    void rejectsWhatBerthCannotHonour() {
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, assertThrows(BerthException.class,
                () -> ContainerTranslation.config(ContainerConfig.getDefaultInstance(), "")).kind(), "no name");
        ContainerConfig groupOnly = base().setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                LinuxContainerSecurityContext.newBuilder().setRunAsGroup(Int64Value.newBuilder().setValue(5)))).build();
        BerthException e = assertThrows(BerthException.class, () -> ContainerTranslation.config(groupOnly, ""));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        assertTrue(e.getMessage().contains("run_as_group"), e.getMessage());
        ContainerConfig ambient = base().setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                LinuxContainerSecurityContext.newBuilder().setCapabilities(Capability.newBuilder().addAddAmbientCapabilities("NET_RAW")))).build();
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, assertThrows(BerthException.class,
                () -> ContainerTranslation.config(ambient, "")).kind());
    }

    @Test
    void recursiveReadOnlyMountsAndImageVolumesReachTheEngine() {
        var config = ContainerTranslation.config(base()
                .addMounts(Mount.newBuilder().setContainerPath("/host").setHostPath("/srv").setReadonly(true).setRecursiveReadOnly(true))
                .addMounts(Mount.newBuilder().setContainerPath("/data").setReadonly(true)
                        .setImage(dev.berth.cri.v1.ImageSpec.newBuilder().setImage("docker.io/library/data:1")).setImageSubPath("sub"))
                .build(), "");
        assertTrue(config.mounts().get(0).recursiveReadOnly());
        assertEquals("docker.io/library/data:1", config.mounts().get(1).image());
        assertEquals("sub", config.mounts().get(1).imageSubPath());
        assertTrue(config.mounts().get(1).isImage());
    }
}
