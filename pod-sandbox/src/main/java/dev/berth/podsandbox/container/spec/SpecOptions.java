package dev.berth.podsandbox.container.spec;

import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/** The spec options berth builds a container's config.json from; each one does one thing. */
public final class SpecOptions {
    public static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static final List<String> DEFAULT_MASKED_PATHS = List.of(
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
            "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap");

    public static final List<String> DEFAULT_READONLY_PATHS = List.of(
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger");

    private SpecOptions() {
    }

    public static SpecOption root(Path rootfs, boolean readonly) {
        return spec -> {
            spec.root.path = rootfs.toAbsolutePath().toString();
            spec.root.readonly = readonly;
        };
    }

    /**
     * The process arguments by the Kubernetes rules: a command replaces the image's Entrypoint
     * and Cmd; args alone replace Cmd and keep Entrypoint; neither keeps both.
     */
    public static SpecOption args(ImageConfig image, ContainerConfig config) {
        return spec -> {
            List<String> argv = new ArrayList<>();
            if (!config.command().isEmpty()) {
                argv.addAll(config.command());
                argv.addAll(config.args());
            } else {
                argv.addAll(image.entrypoint());
                argv.addAll(config.args().isEmpty() ? image.cmd() : config.args());
            }
            if (argv.isEmpty()) {
                throw BerthException.invalidArgument(
                        "container %s has no command: neither the config nor the image gives one", config.name());
            }
            spec.process.args = argv;
        };
    }

    /** PATH (if the image lacks one), HOSTNAME, the image env, then the config env over them. */
    public static SpecOption env(ImageConfig image, ContainerConfig config, String hostname) {
        return spec -> {
            Map<String, String> env = new LinkedHashMap<>();
            env.put("PATH", DEFAULT_PATH);
            if (hostname != null && !hostname.isEmpty()) {
                env.put("HOSTNAME", hostname);
            }
            for (String kv : image.env()) {
                int eq = kv.indexOf('=');
                if (eq <= 0) {
                    env.put(eq < 0 ? kv : kv.substring(0, eq), eq < 0 ? "" : kv.substring(eq + 1));
                } else {
                    env.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
            }
            for (Map.Entry<String, String> e : config.envs().entrySet()) {
                if (e.getKey().isEmpty() || e.getKey().contains("=")) {
                    throw BerthException.invalidArgument("invalid environment variable name \"%s\"", e.getKey());
                }
                env.put(e.getKey(), e.getValue() == null ? "" : e.getValue());
            }
            List<String> out = new ArrayList<>();
            env.forEach((k, v) -> out.add(k + "=" + v));
            spec.process.env = out;
        };
    }

    public static SpecOption cwd(ImageConfig image, ContainerConfig config) {
        return spec -> {
            String cwd = !config.workingDir().isEmpty() ? config.workingDir()
                    : !image.workingDir().isEmpty() ? image.workingDir() : "/";
            if (!cwd.startsWith("/")) {
                throw BerthException.invalidArgument("working directory %s is not absolute", cwd);
            }
            spec.process.cwd = cwd;
        };
    }

    public static SpecOption user(UserResolver.Identity id) {
        return spec -> {
            spec.process.user.uid = id.uid();
            spec.process.user.gid = id.gid();
            spec.process.user.additionalGids = id.additionalGids().isEmpty() ? null : id.additionalGids();
        };
    }

    public static SpecOption terminal(boolean tty) {
        return spec -> spec.process.terminal = tty;
    }

    public static SpecOption hostname(SandboxContext sandbox) {
        return spec -> {
            if (sandbox.uts().mode() != SandboxContext.Namespace.Mode.HOST && !sandbox.hostname().isEmpty()
                    && sandbox.uts().mode() == SandboxContext.Namespace.Mode.NEW) {
                spec.hostname = sandbox.hostname();
            }
        };
    }

    /**
     * A new mount namespace always; net/ipc/uts/pid joined by path, new, or the host's; the pod's
     * user namespace by path, with its maps (runc refuses a user namespace without them, even one
     * it joins; it writes no map then), listed first as the runtime joins it first.
     */
    public static SpecOption namespaces(SandboxContext sandbox) {
        return spec -> {
            List<OciSpec.Namespace> ns = new ArrayList<>();
            SandboxContext.User user = sandbox.user();
            if (user != null) {
                addNamespace(ns, "user", SandboxContext.Namespace.join(user.path()));
                spec.linux.uidMappings = user.uids().stream().map(OciSpec.IdMapping::of).toList();
                spec.linux.gidMappings = user.gids().stream().map(OciSpec.IdMapping::of).toList();
            }
            ns.add(new OciSpec.Namespace("mount", null));
            addNamespace(ns, "network", sandbox.net());
            addNamespace(ns, "ipc", sandbox.ipc());
            addNamespace(ns, "uts", sandbox.uts());
            addNamespace(ns, "pid", sandbox.pid());
            spec.linux.namespaces = ns;
        };
    }

    /**
     * A cgroup namespace of its own on a cgroup v2 host, unless the container is privileged: its
     * /sys/fs/cgroup then shows its own cgroup as the root, not the host's whole tree. On hosts
     * with v1 controllers the container keeps the host's cgroup namespace, as containerd does
     * (v1 tools inside containers expect the host's paths).
     */
    public static SpecOption cgroupNamespace(HostFacts host, boolean privileged) {
        return spec -> {
            if (host.cgroupUnified() && !privileged) {
                spec.linux.namespaces.add(new OciSpec.Namespace("cgroup", null));
            }
        };
    }

    private static void addNamespace(List<OciSpec.Namespace> ns, String type, SandboxContext.Namespace n) {
        switch (n.mode()) {
            case NEW -> ns.add(new OciSpec.Namespace(type, null));
            case PATH -> {
                if (n.path() == null || !Files.exists(Path.of(n.path()))) {
                    throw BerthException.failedPrecondition("%s namespace %s of the pod does not exist", type, n.path());
                }
                ns.add(new OciSpec.Namespace(type, n.path()));
            }
            case HOST -> {
            }
        }
    }

    /** /proc, /dev, /dev/pts, /dev/mqueue, /dev/shm, /sys, the cgroup tree and the pod's /etc files. */
    public static SpecOption defaultMounts(SandboxContext sandbox, boolean readonlyRootfs, boolean privileged) {
        return spec -> {
            List<OciSpec.Mount> m = new ArrayList<>();
            m.add(new OciSpec.Mount("/proc", "proc", "proc", List.of("nosuid", "noexec", "nodev")));
            m.add(new OciSpec.Mount("/dev", "tmpfs", "tmpfs", List.of("nosuid", "strictatime", "mode=755", "size=65536k")));
            m.add(new OciSpec.Mount("/dev/pts", "devpts", "devpts",
                    List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")));
            m.add(new OciSpec.Mount("/dev/mqueue", "mqueue", "mqueue", List.of("nosuid", "noexec", "nodev")));
            if (sandbox.shmPath() != null) {
                m.add(new OciSpec.Mount("/dev/shm", "bind", sandbox.shmPath(), List.of("rbind", "rprivate", "rw")));
            } else {
                m.add(new OciSpec.Mount("/dev/shm", "tmpfs", "shm",
                        List.of("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")));
            }
            String sysMode = privileged ? "rw" : "ro";
            m.add(new OciSpec.Mount("/sys", "sysfs", "sysfs", List.of("nosuid", "noexec", "nodev", sysMode)));
            m.add(new OciSpec.Mount("/sys/fs/cgroup", "cgroup", "cgroup",
                    List.of("nosuid", "noexec", "nodev", "relatime", sysMode)));
            String etcMode = readonlyRootfs ? "ro" : "rw";
            addFile(m, "/etc/hosts", sandbox.hostsPath(), etcMode);
            addFile(m, "/etc/resolv.conf", sandbox.resolvConfPath(), etcMode);
            addFile(m, "/etc/hostname", sandbox.hostnamePath(), etcMode);
            spec.mounts.addAll(m);
        };
    }

    private static void addFile(List<OciSpec.Mount> m, String dest, String source, String mode) {
        if (source != null) {
            m.add(new OciSpec.Mount(dest, "bind", source, List.of("rbind", "rprivate", mode)));
        }
    }

    /**
     * The CRI mounts: each host path must exist (a symlink is resolved to its target); a CRI
     * mount replaces a default mount at the same destination; mounts are ordered parents
     * first; rslave/rshared propagation sets the rootfs propagation to match. A recursive
     * read-only mount must be read-only and private, and gets {@code rro} (its submounts are
     * read-only too; whether the handler can is {@link #requireRecursiveReadOnly}'s question).
     * An image volume is the image as {@code ImageVolumes} staged it (its host path), bound
     * read-only without setuid programs or devices.
     */
    public static SpecOption criMounts(List<ContainerConfig.Mount> mounts) {
        return spec -> {
            List<OciSpec.Mount> added = new ArrayList<>();
            boolean slave = false;
            boolean shared = false;
            for (ContainerConfig.Mount cm : mounts) {
                if (cm.containerPath() == null || !cm.containerPath().startsWith("/")) {
                    throw BerthException.invalidArgument("mount container path \"%s\" is not absolute", cm.containerPath());
                }
                checkRecursiveReadOnly(cm);
                if (cm.isImage() && (cm.hostPath() == null || cm.hostPath().isEmpty())) {
                    throw BerthException.internal("image volume " + cm.image() + " (for " + cm.containerPath()
                            + ") was not staged", null);
                }
                if (cm.hostPath() == null || !cm.hostPath().startsWith("/")) {
                    throw BerthException.invalidArgument("mount host path \"%s\" is not absolute", cm.hostPath());
                }
                Path real;
                try {
                    real = Path.of(cm.hostPath()).toRealPath();
                } catch (NoSuchFileException e) {
                    throw BerthException.invalidArgument("mount source %s (for %s) does not exist",
                            cm.hostPath(), cm.containerPath());
                } catch (IOException e) {
                    throw BerthException.invalidArgument("cannot resolve mount source %s: %s", cm.hostPath(), e.getMessage());
                }
                // an image volume is berth's own mount: nothing propagates to or from it
                ContainerConfig.Propagation asked = cm.isImage() ? ContainerConfig.Propagation.PRIVATE : cm.propagation();
                String propagation = switch (asked) {
                    case PRIVATE -> "rprivate";
                    case HOST_TO_CONTAINER -> "rslave";
                    case BIDIRECTIONAL -> "rshared";
                };
                slave |= asked == ContainerConfig.Propagation.HOST_TO_CONTAINER;
                shared |= asked == ContainerConfig.Propagation.BIDIRECTIONAL;
                List<String> options = new ArrayList<>(List.of("rbind", propagation, cm.readonly() ? "ro" : "rw"));
                if (cm.recursiveReadOnly()) {
                    options.add("rro");
                }
                if (cm.isImage()) {
                    options.addAll(List.of("nosuid", "nodev"));
                }
                added.add(new OciSpec.Mount(cm.containerPath(), "bind", real.toString(), options));
            }
            List<String> destinations = added.stream().map(m -> clean(m.destination())).toList();
            spec.mounts.removeIf(m -> destinations.contains(clean(m.destination())));
            spec.mounts.addAll(added);
            // stable sort: fewer path components first, so parents are mounted before children
            spec.mounts.sort(Comparator.comparingInt(m -> depth(m.destination())));
            if (shared) {
                spec.linux.rootfsPropagation = "rshared";
            } else if (slave) {
                spec.linux.rootfsPropagation = "rslave";
            }
        };
    }

    /** A recursive read-only mount is read-only and keeps its submounts' mounts and unmounts from the container (private). */
    static void checkRecursiveReadOnly(ContainerConfig.Mount m) {
        if (!m.recursiveReadOnly()) {
            return;
        }
        if (!m.readonly()) {
            throw BerthException.invalidArgument("recursive read-only mount of %s (at %s) must be readonly, it is read-write",
                    m.hostPath(), m.containerPath());
        }
        if (m.propagation() != ContainerConfig.Propagation.PRIVATE) {
            throw BerthException.invalidArgument("recursive read-only mount of %s (at %s) requires private propagation, got %s",
                    m.hostPath(), m.containerPath(), m.propagation());
        }
    }

    /**
     * Refuses recursive read-only mounts on a handler whose runtime or kernel cannot make them
     * ({@code supported} is asked only when a mount wants one: it may run the runtime binary).
     */
    public static void requireRecursiveReadOnly(List<ContainerConfig.Mount> mounts, String handler,
                                                java.util.function.BooleanSupplier supported) {
        for (ContainerConfig.Mount m : mounts) {
            if (m.recursiveReadOnly()) {
                checkRecursiveReadOnly(m);
                if (!supported.getAsBoolean()) {
                    throw BerthException.invalidArgument("recursive read-only mount of %s (at %s) is not supported by runtime handler %s"
                            + " (its runtime does not list the rro mount option, or the kernel lacks mount_setattr)",
                            m.hostPath(), m.containerPath(), handler);
                }
            }
        }
    }

    private static String clean(String p) {
        return Path.of(p).normalize().toString();
    }

    private static int depth(String p) {
        return Path.of(p).normalize().getNameCount();
    }

    /** The devices cgroup denies everything but what is listed; privileged gets every host device. */
    public static SpecOption devices(List<ContainerConfig.Device> devices, boolean privileged, HostFacts host) {
        return spec -> {
            spec.linux.resources.devices.clear();
            if (privileged) {
                spec.linux.devices.addAll(host.hostDevices());
                spec.linux.resources.devices.add(new OciSpec.DeviceRule(true, "a", null, null, "rwm"));
            } else {
                spec.linux.resources.devices.add(new OciSpec.DeviceRule(false, null, null, null, "rwm"));
            }
            for (ContainerConfig.Device d : devices) {
                if (d.containerPath() == null || !d.containerPath().startsWith("/")) {
                    throw BerthException.invalidArgument("device container path \"%s\" is not absolute", d.containerPath());
                }
                String perms = d.permissions() == null || d.permissions().isEmpty() ? "rwm" : d.permissions();
                if (!perms.matches("[rwm]+")) {
                    throw BerthException.invalidArgument("device permissions \"%s\" are not a subset of rwm", perms);
                }
                OciSpec.LinuxDevice dev = Devices.read(Path.of(d.hostPath()), d.containerPath());
                spec.linux.devices.removeIf(x -> x.path().equals(d.containerPath()));
                spec.linux.devices.add(dev);
                if (!privileged) {
                    spec.linux.resources.devices.add(new OciSpec.DeviceRule(true, dev.type(), dev.major(), dev.minor(), perms));
                }
            }
        };
    }

    /** Capabilities: berth's default set with CRI add/drop, or everything berth holds when privileged. */
    public static SpecOption capabilities(ContainerConfig.Security sc, HostFacts host) {
        return spec -> {
            List<String> caps = sc.privileged() ? Capabilities.sorted(host.ownCapabilities())
                    : Capabilities.resolve(sc.addCapabilities(), sc.dropCapabilities(), host.ownCapabilities());
            spec.process.capabilities.bounding = new ArrayList<>(caps);
            spec.process.capabilities.effective = new ArrayList<>(caps);
            spec.process.capabilities.permitted = new ArrayList<>(caps);
            spec.process.capabilities.inheritable = new ArrayList<>();
            spec.process.capabilities.ambient = new ArrayList<>();
        };
    }

    public static SpecOption noNewPrivileges(boolean on) {
        return spec -> spec.process.noNewPrivileges = on;
    }

    /** Masked and read-only /proc and /sys paths: the given lists, the defaults, or none when privileged. */
    public static SpecOption maskedAndReadonlyPaths(ContainerConfig.Security sc) {
        return spec -> {
            if (sc.privileged()) {
                spec.linux.maskedPaths = new ArrayList<>();
                spec.linux.readonlyPaths = new ArrayList<>();
                return;
            }
            spec.linux.maskedPaths = new ArrayList<>(sc.maskedPaths() == null ? DEFAULT_MASKED_PATHS : sc.maskedPaths());
            spec.linux.readonlyPaths = new ArrayList<>(sc.readonlyPaths() == null ? DEFAULT_READONLY_PATHS : sc.readonlyPaths());
        };
    }

    /** Seccomp from the chosen profile; privileged containers run unconfined. Apply after capabilities. */
    public static SpecOption seccomp(ContainerConfig.Security sc, HostFacts host) {
        return spec -> {
            SeccompProfiles.Choice choice = SeccompProfiles.choose(sc.seccomp(), sc.seccompProfilePath());
            if (sc.privileged()) {
                spec.linux.seccomp = null;
                return;
            }
            spec.linux.seccomp = SeccompProfiles.build(choice, spec.process.capabilities.effective, host.arch());
        };
    }

    public static SpecOption rlimits(List<OciSpec.Rlimit> rlimits) {
        return spec -> spec.process.rlimits = rlimits.isEmpty() ? null : new ArrayList<>(rlimits);
    }

    /**
     * oom_score_adj, never below berth's own: without CAP_SYS_RESOURCE the runtime cannot
     * lower it and the start fails; the value is raised and {@code warn} told why.
     */
    public static SpecOption oomScoreAdj(Long requested, HostFacts host, Consumer<String> warn) {
        return spec -> {
            if (requested == null) {
                return;
            }
            if (requested < -1000 || requested > 1000) {
                throw BerthException.invalidArgument("oom_score_adj %d is outside [-1000, 1000]", requested);
            }
            int value = requested.intValue();
            if (value < host.ownOomScoreAdj()) {
                warn.accept(String.format("oom_score_adj %d raised to %d: berth's own oom_score_adj is %d and a "
                        + "container cannot go below it without CAP_SYS_RESOURCE (the runtime would fail to start it)",
                        value, host.ownOomScoreAdj(), host.ownOomScoreAdj()));
                value = host.ownOomScoreAdj();
            }
            spec.process.oomScoreAdj = value;
        };
    }

    /** CPU, memory, hugepage and unified limits into linux.resources. */
    public static SpecOption resources(Resources r) {
        return spec -> applyResources(spec.linux.resources, r);
    }

    /** Fills {@code out} from CRI resources (also used for live updates). */
    public static void applyResources(OciSpec.Resources out, Resources r) {
        OciSpec.Cpu cpu = new OciSpec.Cpu();
        cpu.shares = positive(r.cpuShares());
        cpu.quota = r.cpuQuota() != null && r.cpuQuota() != 0 ? r.cpuQuota() : null;
        cpu.period = positive(r.cpuPeriod());
        cpu.cpus = r.cpusetCpus() == null || r.cpusetCpus().isEmpty() ? null : r.cpusetCpus();
        cpu.mems = r.cpusetMems() == null || r.cpusetMems().isEmpty() ? null : r.cpusetMems();
        out.cpu = cpu.shares == null && cpu.quota == null && cpu.period == null && cpu.cpus == null && cpu.mems == null
                ? null : cpu;
        OciSpec.Memory mem = new OciSpec.Memory();
        mem.limit = positive(r.memoryLimitBytes());
        mem.swap = positive(r.memorySwapLimitBytes());
        if (mem.swap != null && mem.limit != null && mem.swap < mem.limit) {
            throw BerthException.invalidArgument("memory swap limit %d is below the memory limit %d", mem.swap, mem.limit);
        }
        out.memory = mem.limit == null && mem.swap == null ? null : mem;
        if (!r.hugepageLimits().isEmpty()) {
            List<OciSpec.HugepageLimit> h = new ArrayList<>();
            r.hugepageLimits().entrySet().stream().sorted(Map.Entry.comparingByKey())
                    .forEach(e -> h.add(new OciSpec.HugepageLimit(e.getKey(), e.getValue())));
            out.hugepageLimits = h;
        } else {
            out.hugepageLimits = null;
        }
        out.unified = r.unified().isEmpty() ? null : new LinkedHashMap<>(r.unified());
    }

    private static Long positive(Long v) {
        return v != null && v > 0 ? v : null;
    }

    public static SpecOption cgroupsPath(String path) {
        return spec -> spec.linux.cgroupsPath = path == null || path.isEmpty() ? null : path;
    }

    public static SpecOption annotations(Map<String, String> annotations) {
        return spec -> spec.annotations.putAll(annotations);
    }

    public static SpecOption sysctls(Map<String, String> sysctls) {
        return spec -> spec.linux.sysctl = sysctls.isEmpty() ? null : new LinkedHashMap<>(sysctls);
    }
}
