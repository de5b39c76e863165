package dev.berth.criserver.cri;

import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import dev.berth.cri.v1.Capability;
import dev.berth.cri.v1.HugepageLimit;
import dev.berth.cri.v1.KeyValue;
import dev.berth.cri.v1.LinuxContainerResources;
import dev.berth.cri.v1.LinuxContainerSecurityContext;
import dev.berth.cri.v1.Mount;
import dev.berth.cri.v1.MountPropagation;
import dev.berth.cri.v1.SecurityProfile;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerResources;
import dev.berth.cri.v1.ContainerUser;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.LinuxContainerUser;
import dev.berth.podsandbox.container.ContainerRecord;
import dev.berth.podsandbox.container.ContainerState;
import dev.berth.podsandbox.container.ContainerView;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** CRI container messages to and from the container engine's {@link ContainerConfig}, records and states. */
final class ContainerTranslation {
    private ContainerTranslation() {
    }

    /** The engine's config for a CRI ContainerConfig; {@code logPath} is already joined with the sandbox's log directory. */
    static ContainerConfig config(dev.berth.cri.v1.ContainerConfig c, String logPath) {
        if (!c.hasMetadata() || c.getMetadata().getName().isEmpty()) {
            throw BerthException.invalidArgument("the container config needs metadata with a name");
        }
        if (c.getMetadata().getAttempt() < 0) {
            throw BerthException.invalidArgument("container attempt %d is out of range", c.getMetadata().getAttempt());
        }
        ContainerConfig.Builder b = ContainerConfig.builder(c.getMetadata().getName())
                .attempt(c.getMetadata().getAttempt())
                .command(c.getCommandList())
                .args(c.getArgsList())
                .workingDir(c.getWorkingDir())
                .labels(c.getLabelsMap())
                .annotations(c.getAnnotationsMap())
                .logPath(logPath)
                .stdin(c.getStdin())
                .stdinOnce(c.getStdinOnce())
                .tty(c.getTty());
        for (KeyValue kv : c.getEnvsList()) {
            b.env(kv.getKey(), kv.getValue().toStringUtf8());
        }
        for (Mount m : c.getMountsList()) {
            b.mount(new ContainerConfig.Mount(m.getContainerPath(), m.getHostPath(), m.getReadonly(), propagation(m.getPropagation()),
                    m.getRecursiveReadOnly(), m.hasImage() ? m.getImage().getImage() : "", m.getImageSubPath(),
                    idMappings(m.getUidMappingsList()), idMappings(m.getGidMappingsList())));
        }
        for (dev.berth.cri.v1.Device d : c.getDevicesList()) {
            b.device(new ContainerConfig.Device(d.getContainerPath(), d.getHostPath(), d.getPermissions()));
        }
        if (c.hasLinux()) {
            if (c.getLinux().hasResources()) {
                b.resources(resources(c.getLinux().getResources()));
            }
            if (c.getLinux().hasSecurityContext()) {
                b.security(security(c.getLinux().getSecurityContext()));
            }
        }
        return b.build();
    }

    static ContainerConfig.Security security(LinuxContainerSecurityContext s) {
        Capability caps = s.getCapabilities();
        if (caps.getAddAmbientCapabilitiesCount() > 0) {
            throw BerthException.invalidArgument("ambient capabilities are not supported");
        }
        if (s.hasRunAsGroup() && !s.hasRunAsUser() && s.getRunAsUsername().isEmpty()) {
            throw BerthException.invalidArgument("run_as_group needs run_as_user or run_as_username");
        }
        ContainerConfig.SeccompProfile seccomp = null;
        if (s.hasSeccomp()) {
            SecurityProfile p = s.getSeccomp();
            seccomp = switch (p.getProfileType()) {
                case RuntimeDefault -> ContainerConfig.SeccompProfile.runtimeDefault();
                case Unconfined -> ContainerConfig.SeccompProfile.unconfined();
                case Localhost -> ContainerConfig.SeccompProfile.localhost(p.getLocalhostRef());
                default -> throw BerthException.invalidArgument("unknown seccomp profile type %s", p.getProfileTypeValue());
            };
        }
        return new ContainerConfig.Security(
                caps.getAddCapabilitiesList(),
                caps.getDropCapabilitiesList(),
                s.getPrivileged(),
                s.hasRunAsUser() ? s.getRunAsUser().getValue() : null,
                s.getRunAsUsername(),
                s.hasRunAsGroup() ? s.getRunAsGroup().getValue() : null,
                s.getSupplementalGroupsList(),
                s.getReadonlyRootfs(),
                s.getNoNewPrivs(),
                s.getMaskedPathsCount() == 0 ? null : s.getMaskedPathsList(),
                s.getReadonlyPathsCount() == 0 ? null : s.getReadonlyPathsList(),
                seccomp,
                s.getSeccompProfilePath(),
                supplementalGroupsPolicy(s));
    }

    private static ContainerConfig.SupplementalGroupsPolicy supplementalGroupsPolicy(LinuxContainerSecurityContext s) {
        return switch (s.getSupplementalGroupsPolicy()) {
            case Merge -> ContainerConfig.SupplementalGroupsPolicy.MERGE;
            case Strict -> ContainerConfig.SupplementalGroupsPolicy.STRICT;
            default -> throw BerthException.invalidArgument("unknown supplemental groups policy %d",
                    s.getSupplementalGroupsPolicyValue());
        };
    }

    /** CRI resources in berth's one model: the only place they are translated, for pods and containers alike; 0 and "" mean unset. */
    static Resources resources(LinuxContainerResources r) {
        return new Resources(
                r.getCpuShares() == 0 ? null : r.getCpuShares(),
                r.getCpuQuota() == 0 ? null : r.getCpuQuota(),
                r.getCpuPeriod() == 0 ? null : r.getCpuPeriod(),
                r.getCpusetCpus().isEmpty() ? null : r.getCpusetCpus(),
                r.getCpusetMems().isEmpty() ? null : r.getCpusetMems(),
                r.getMemoryLimitInBytes() == 0 ? null : r.getMemoryLimitInBytes(),
                r.getMemorySwapLimitInBytes() == 0 ? null : r.getMemorySwapLimitInBytes(),
                r.getOomScoreAdj() == 0 ? null : r.getOomScoreAdj(),
                null, // the CRI sets no pids limit
                r.getHugepageLimitsList().stream().collect(Collectors.toMap(HugepageLimit::getPageSize, HugepageLimit::getLimit, (x, y) -> y)),
                r.getUnifiedMap());
    }

    static LinuxContainerResources resources(Resources r) {
        LinuxContainerResources.Builder b = LinuxContainerResources.newBuilder();
        if (r.cpuShares() != null) {
            b.setCpuShares(r.cpuShares());
        }
        if (r.cpuQuota() != null) {
            b.setCpuQuota(r.cpuQuota());
        }
        if (r.cpuPeriod() != null) {
            b.setCpuPeriod(r.cpuPeriod());
        }
        if (r.cpusetCpus() != null) {
            b.setCpusetCpus(r.cpusetCpus());
        }
        if (r.cpusetMems() != null) {
            b.setCpusetMems(r.cpusetMems());
        }
        if (r.memoryLimitBytes() != null) {
            b.setMemoryLimitInBytes(r.memoryLimitBytes());
        }
        if (r.memorySwapLimitBytes() != null) {
            b.setMemorySwapLimitInBytes(r.memorySwapLimitBytes());
        }
        if (r.oomScoreAdj() != null) {
            b.setOomScoreAdj(r.oomScoreAdj());
        }
        for (Map.Entry<String, Long> h : r.hugepageLimits().entrySet()) {
            b.addHugepageLimits(HugepageLimit.newBuilder().setPageSize(h.getKey()).setLimit(h.getValue()));
        }
        b.putAllUnified(r.unified());
        return b.build();
    }

    static List<ContainerConfig.IdMapping> idMappings(List<dev.berth.cri.v1.IDMapping> mappings) {
        return mappings.stream().map(x -> new ContainerConfig.IdMapping(Integer.toUnsignedLong(x.getContainerId()),
                Integer.toUnsignedLong(x.getHostId()), Integer.toUnsignedLong(x.getLength()))).toList();
    }

    static Mount mount(ContainerConfig.Mount m) {
        Mount.Builder b = Mount.newBuilder().setContainerPath(m.containerPath()).setHostPath(m.hostPath()).setReadonly(m.readonly())
                .setPropagation(switch (m.propagation()) {
                    case PRIVATE -> MountPropagation.PROPAGATION_PRIVATE;
                    case HOST_TO_CONTAINER -> MountPropagation.PROPAGATION_HOST_TO_CONTAINER;
                    case BIDIRECTIONAL -> MountPropagation.PROPAGATION_BIDIRECTIONAL;
                })
                .setRecursiveReadOnly(m.recursiveReadOnly())
                .setImageSubPath(m.imageSubPath());
        if (m.isImage()) {
            b.setImage(dev.berth.cri.v1.ImageSpec.newBuilder().setImage(m.image()));
        }
        m.uidMappings().forEach(x -> b.addUidMappings(idMapping(x)));
        m.gidMappings().forEach(x -> b.addGidMappings(idMapping(x)));
        return b.build();
    }

    private static dev.berth.cri.v1.IDMapping idMapping(ContainerConfig.IdMapping x) {
        return dev.berth.cri.v1.IDMapping.newBuilder().setContainerId((int) x.containerId()).setHostId((int) x.hostId())
                .setLength((int) x.length()).build();
    }

    private static ContainerConfig.Propagation propagation(MountPropagation p) {
        return switch (p) {
            case PROPAGATION_PRIVATE -> ContainerConfig.Propagation.PRIVATE;
            case PROPAGATION_HOST_TO_CONTAINER -> ContainerConfig.Propagation.HOST_TO_CONTAINER;
            case PROPAGATION_BIDIRECTIONAL -> ContainerConfig.Propagation.BIDIRECTIONAL;
            default -> throw BerthException.invalidArgument("unknown mount propagation %s", p);
        };
    }

    /** The CRI status of one container (also what container events carry). */
    static dev.berth.cri.v1.ContainerStatus status(ContainerView v) {
        ContainerRecord r = v.record();
        ContainerConfig c = r.config();
        dev.berth.cri.v1.ContainerStatus.Builder s = dev.berth.cri.v1.ContainerStatus.newBuilder()
                .setId(r.id())
                .setMetadata(ContainerMetadata.newBuilder().setName(r.name()).setAttempt(r.attempt()))
                .setState(state(r.state()))
                .setCreatedAt(r.createdAt())
                .setStartedAt(r.startedAt())
                .setFinishedAt(r.finishedAt())
                .setExitCode(r.exitCode())
                .setReason(r.reason())
                .setMessage(r.message())
                .putAllLabels(r.labels())
                .putAllAnnotations(r.annotations())
                .setLogPath(r.logPath())
                .setResources(ContainerResources.newBuilder().setLinux(resources(c.resources())));
        s.setImage(ImageSpec.newBuilder().setImage(v.image())).setImageRef(v.imageRef()).setImageId(r.imageRef());
        c.mounts().forEach(m -> s.addMounts(mount(m)));
        if (v.user() != null) {
            LinuxContainerUser.Builder u = LinuxContainerUser.newBuilder().setUid(v.user().uid()).setGid(v.user().gid());
            v.user().additionalGids().forEach(u::addSupplementalGroups);
            s.setUser(ContainerUser.newBuilder().setLinux(u));
        }
        return s.build();
    }

    /** One container of ListContainers and StreamContainers. */
    static Container container(ContainerView v) {
        ContainerRecord r = v.record();
        return Container.newBuilder()
                .setId(r.id())
                .setPodSandboxId(r.sandboxId())
                .setMetadata(ContainerMetadata.newBuilder().setName(r.name()).setAttempt(r.attempt()))
                .setImage(ImageSpec.newBuilder().setImage(v.image()))
                .setImageRef(v.imageRef())
                .setImageId(r.imageRef())
                .setState(state(r.state()))
                .setCreatedAt(r.createdAt())
                .putAllLabels(r.labels())
                .putAllAnnotations(r.annotations())
                .build();
    }

    static dev.berth.cri.v1.ContainerState state(ContainerState s) {
        return switch (s) {
            case CREATED -> dev.berth.cri.v1.ContainerState.CONTAINER_CREATED;
            case RUNNING -> dev.berth.cri.v1.ContainerState.CONTAINER_RUNNING;
            case EXITED -> dev.berth.cri.v1.ContainerState.CONTAINER_EXITED;
            case UNKNOWN -> dev.berth.cri.v1.ContainerState.CONTAINER_UNKNOWN;
        };
    }

    static ContainerState state(dev.berth.cri.v1.ContainerState s) {
        return switch (s) {
            case CONTAINER_CREATED -> ContainerState.CREATED;
            case CONTAINER_RUNNING -> ContainerState.RUNNING;
            case CONTAINER_EXITED -> ContainerState.EXITED;
            case CONTAINER_UNKNOWN -> ContainerState.UNKNOWN;
            default -> throw BerthException.invalidArgument("unknown container state %s", s);
        };
    }
}
