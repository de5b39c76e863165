package dev.berth.podsandbox.container.spec;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/** Builds a container's OCI runtime spec from its image config, its CRI config and its sandbox. */
public final class ContainerSpecs {
    private ContainerSpecs() {
    }

    /** The options, in the order they apply. */
    public static List<SpecOption> options(ContainerConfig config, ImageConfig image, SandboxContext sandbox,
                                           Path rootfs, HostFacts host, Consumer<String> warn) {
        ContainerConfig.Security sc = config.security();
        UserResolver.Identity identity = UserResolver.forRootfs(rootfs).resolve(sc, image.user());
        return List.of(
                SpecOptions.root(rootfs, sc.readonlyRootfs()),
                SpecOptions.args(image, config),
                SpecOptions.env(image, config, sandbox.hostname()),
                SpecOptions.cwd(image, config),
                SpecOptions.user(identity),
                SpecOptions.terminal(config.tty()),
                SpecOptions.hostname(sandbox),
                SpecOptions.namespaces(sandbox),
                SpecOptions.cgroupNamespace(host, sc.privileged()),
                SpecOptions.defaultMounts(sandbox, sc.readonlyRootfs(), sc.privileged()),
                SpecOptions.criMounts(config.mounts()),
                SpecOptions.devices(config.devices(), sc.privileged(), host),
                SpecOptions.capabilities(sc, host),
                SpecOptions.noNewPrivileges(sc.noNewPrivs()),
                SpecOptions.maskedAndReadonlyPaths(sc),
                SpecOptions.seccomp(sc, host),
                SpecOptions.rlimits(host.rlimits()),
                SpecOptions.oomScoreAdj(config.resources().oomScoreAdj(), host, warn),
                SpecOptions.resources(config.resources()),
                SpecOptions.cgroupsPath(sandbox.cgroupsPath()),
                SpecOptions.sysctls(sandbox.sysctls()),
                SpecOptions.annotations(config.annotations()));
    }

    public static OciSpec generate(ContainerConfig config, ImageConfig image, SandboxContext sandbox, Path rootfs,
                                   HostFacts host, Consumer<String> warn) {
        OciSpec spec = new OciSpec();
        for (SpecOption o : options(config, image, sandbox, rootfs, host, warn)) {
            o.apply(spec);
        }
        return spec;
    }
}
