package dev.berth.podsandbox.container.spec;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * Facts about the host and berth's own process that spec generation depends on, gathered
 * once so that generation itself stays pure.
 *
 * @param ownCapabilities the capabilities berth holds (its effective set); "all capabilities"
 *                        for privileged containers and {@code ALL} means these
 * @param ownOomScoreAdj  berth's own oom_score_adj; a container cannot go below it without
 *                        CAP_SYS_RESOURCE
 * @param hostDevices     the host's device nodes, for privileged containers
 * @param rlimits         process rlimits every container gets (none by default: containers inherit
 *                        berth's, which it cannot raise without CAP_SYS_RESOURCE)
 * @param arch            the machine, as Java names it ("amd64", "aarch64")
 * @param cgroupUnified   the host mounts the cgroup v2 hierarchy alone at /sys/fs/cgroup (no
 *                        v1 controllers): containers then get a cgroup namespace of their own
 */
public record HostFacts(Set<String> ownCapabilities, int ownOomScoreAdj, List<OciSpec.LinuxDevice> hostDevices,
                        List<OciSpec.Rlimit> rlimits, String arch, boolean cgroupUnified) {

    /** Facts of a host with cgroup v1 controllers (hybrid or legacy). */
    public HostFacts(Set<String> ownCapabilities, int ownOomScoreAdj, List<OciSpec.LinuxDevice> hostDevices,
                     List<OciSpec.Rlimit> rlimits, String arch) {
        this(ownCapabilities, ownOomScoreAdj, hostDevices, rlimits, arch, false);
    }

    public HostFacts {
        ownCapabilities = Set.copyOf(ownCapabilities);
        hostDevices = List.copyOf(hostDevices);
        rlimits = List.copyOf(rlimits);
    }

    /** Reads the facts of the running berth process. */
    public static HostFacts current() {
        try {
            Set<String> caps = Set.of();
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) {
                    caps = Capabilities.fromMask(Long.parseUnsignedLong(line.substring(7).trim(), 16));
                }
            }
            int oom = Integer.parseInt(Files.readString(Path.of("/proc/self/oom_score_adj")).trim());
            return new HostFacts(caps, oom, Devices.hostDevices(Path.of("/dev")),
                    List.of(), System.getProperty("os.arch"), Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers")));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read berth's own process facts from /proc/self", e);
        }
    }
}
