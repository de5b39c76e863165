package dev.berth.podsandbox.container.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Spec generation from image config, CRI config and sandbox, without running anything. */
class ContainerSpecsTest {
    @TempDir
    Path tmp;

    private static final HostFacts HOST = new HostFacts(
            Set.of("CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SETUID"), 0, List.of(),
            List.of(), "amd64");

    private Path rootfs() throws Exception {
        Path r = tmp.resolve("rootfs");
        Files.createDirectories(r.resolve("etc"));
        Files.writeString(r.resolve("etc/passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n");
        Files.writeString(r.resolve("etc/group"), "root:x:0:\nappgrp:x:1001:\nextra:x:2000:app\nwheel:x:10:root,app\n");
        return r;
    }

    private OciSpec gen(ContainerConfig c, ImageConfig image) throws Exception {
        return gen(c, image, SandboxContext.standalone("sb", "/pod/ctr"), new ArrayList<>());
    }

    private OciSpec gen(ContainerConfig c, ImageConfig image, SandboxContext sb, List<String> warnings) throws Exception {
        return ContainerSpecs.generate(c, image, sb, rootfs(), HOST, warnings::add);
    }

    private static ImageConfig image(List<String> entrypoint, List<String> cmd) {
        return new ImageConfig(entrypoint, cmd, List.of(), "", "", "");
    }

    private static ContainerConfig.Security sec(Long uid, String name, Long gid, List<Long> supplemental) {
        return new ContainerConfig.Security(List.of(), List.of(), false, uid, name, gid, supplemental, false, false,
                null, null, null, "");
    }

    @Test
    void commandAndArgsFollowTheKubernetesRules() throws Exception {
        ImageConfig img = image(List.of("/entry"), List.of("dflt"));
        assertEquals(List.of("/entry", "dflt"), gen(ContainerConfig.builder("c").build(), img).process.args);
        assertEquals(List.of("/entry", "a1"), gen(ContainerConfig.builder("c").args("a1").build(), img).process.args);
        assertEquals(List.of("/cmd", "a1"),
                gen(ContainerConfig.builder("c").command("/cmd").args("a1").build(), img).process.args);
        assertEquals(List.of("/cmd"), gen(ContainerConfig.builder("c").command("/cmd").build(), img).process.args);
        BerthException e = assertThrows(BerthException.class,
                () -> gen(ContainerConfig.builder("c").build(), ImageConfig.empty()));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
    }

    @Test
    void envIsTheImageEnvWithTheConfigEnvOverIt() throws Exception {
        ImageConfig img = new ImageConfig(List.of(), List.of("x"), List.of("A=image", "B=image", "PATH=/img"), "", "", "");
        OciSpec s = gen(ContainerConfig.builder("c").env("B", "config").env("C", "new").build(), img,
                SandboxContext.standalone("sb", null).withPodFiles(null, null, null, null, "pod-host"), new ArrayList<>());
        assertEquals(List.of("PATH=/img", "HOSTNAME=pod-host", "A=image", "B=config", "C=new"), s.process.env);
        OciSpec noPath = gen(ContainerConfig.builder("c").command("x").build(), ImageConfig.empty());
        assertEquals("PATH=" + SpecOptions.DEFAULT_PATH, noPath.process.env.get(0));
    }

    @Test
    void workingDirComesFromTheConfigElseTheImage() throws Exception {
        ImageConfig img = new ImageConfig(List.of(), List.of("x"), List.of(), "/img", "", "");
        assertEquals("/img", gen(ContainerConfig.builder("c").build(), img).process.cwd);
        assertEquals("/cfg", gen(ContainerConfig.builder("c").workingDir("/cfg").build(), img).process.cwd);
        assertThrows(BerthException.class, () -> gen(ContainerConfig.builder("c").workingDir("rel").build(), img));
    }

    @Test
    void userIsResolvedFromTheConfigOrTheImageInTheRootfsFiles() throws Exception {
        ImageConfig img = image(List.of(), List.of("x"));
        OciSpec byUid = gen(ContainerConfig.builder("c").security(sec(1000L, "", null, List.of(5L))).build(), img);
        assertEquals(1000, byUid.process.user.uid);
        assertEquals(1001, byUid.process.user.gid);
        assertEquals(List.of(1001L, 2000L, 10L, 5L), byUid.process.user.additionalGids);
        OciSpec byName = gen(ContainerConfig.builder("c").security(sec(null, "app", 7L, List.of())).build(), img);
        assertEquals(1000, byName.process.user.uid);
        assertEquals(7, byName.process.user.gid);
        OciSpec unknownUid = gen(ContainerConfig.builder("c").security(sec(4242L, "", null, List.of())).build(), img);
        assertEquals(4242, unknownUid.process.user.uid);
        assertEquals(0, unknownUid.process.user.gid);
        BerthException groupOnly = assertThrows(BerthException.class,
                () -> gen(ContainerConfig.builder("c").security(sec(null, "", 5L, List.of())).build(), img));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, groupOnly.kind());
        assertThrows(BerthException.class,
                () -> gen(ContainerConfig.builder("c").security(sec(null, "ghost", null, List.of())).build(), img));

        ImageConfig userImage = new ImageConfig(List.of(), List.of("x"), List.of(), "", "app:extra", "");
        OciSpec fromImage = gen(ContainerConfig.builder("c").build(), userImage);
        assertEquals(1000, fromImage.process.user.uid);
        assertEquals(2000, fromImage.process.user.gid);
        ImageConfig numeric = new ImageConfig(List.of(), List.of("x"), List.of(), "", "55:66", "");
        OciSpec n = gen(ContainerConfig.builder("c").build(), numeric);
        assertEquals(55, n.process.user.uid);
        assertEquals(66, n.process.user.gid);
        ImageConfig badGroup = new ImageConfig(List.of(), List.of("x"), List.of(), "", "app:nogroup", "");
        assertThrows(BerthException.class, () -> gen(ContainerConfig.builder("c").build(), badGroup));
        OciSpec root = gen(ContainerConfig.builder("c").build(), img);
        assertEquals(0, root.process.user.uid);
        assertEquals(List.of(0L, 10L), root.process.user.additionalGids);
    }

    @Test
    void passwdReachedThroughAnAbsoluteSymlinkStaysInsideTheRootfs() throws Exception {
        Path r = rootfs();
        Files.createDirectories(r.resolve("real"));
        Files.move(r.resolve("etc/passwd"), r.resolve("real/passwd"));
        Files.createSymbolicLink(r.resolve("etc/passwd"), Path.of("/real/passwd"));
        assertEquals(r.resolve("real/passwd"), RootfsPaths.resolve(r, "/etc/passwd"));
        Files.createSymbolicLink(r.resolve("escape"), Path.of("../../../../etc"));
        assertEquals(r.resolve("etc/group"), RootfsPaths.resolve(r, "/escape/group"));
    }

    @Test
    void capabilitiesAreTheDefaultsWithAddAndDropIncludingAll() throws Exception {
        ImageConfig img = image(List.of(), List.of("x"));
        OciSpec dflt = gen(ContainerConfig.builder("c").build(), img);
        assertEquals(Capabilities.DEFAULT, dflt.process.capabilities.effective);
        assertEquals(dflt.process.capabilities.bounding, dflt.process.capabilities.permitted);
        assertEquals(List.of(), dflt.process.capabilities.inheritable);
        OciSpec allButKill = gen(ContainerConfig.builder("c").security(new ContainerConfig.Security(List.of("ALL"),
                List.of("kill"), false, null, "", null, List.of(), false, false, null, null, null, "")).build(), img);
        assertTrue(allButKill.process.capabilities.effective.contains("CAP_SYS_ADMIN"));
        assertFalse(allButKill.process.capabilities.effective.contains("CAP_KILL"));
        OciSpec onlyNetAdmin = gen(ContainerConfig.builder("c").security(new ContainerConfig.Security(
                List.of("net_admin"), List.of("ALL"), false, null, "", null, List.of(), false, false, null, null,
                null, "")).build(), img);
        assertEquals(List.of("CAP_NET_ADMIN"), onlyNetAdmin.process.capabilities.effective);
        assertThrows(BerthException.class, () -> gen(ContainerConfig.builder("c").security(
                new ContainerConfig.Security(List.of("CAP_BOGUS"), List.of(), false, null, "", null, List.of(), false,
                        false, null, null, null, "")).build(), img));
    }

    @Test
    void privilegedGetsAllCapabilitiesNoMaskedPathsAndNoSeccomp() throws Exception {
        OciSpec s = gen(ContainerConfig.builder("c").command("x").security(new ContainerConfig.Security(List.of(),
                List.of(), true, null, "", null, List.of(), false, false, null, null,
                ContainerConfig.SeccompProfile.runtimeDefault(), "")).build(), ImageConfig.empty());
        assertEquals(Capabilities.sorted(HOST.ownCapabilities()), s.process.capabilities.effective);
        assertEquals(List.of(), s.linux.maskedPaths);
        assertEquals(List.of(), s.linux.readonlyPaths);
        assertNull(s.linux.seccomp);
        assertTrue(s.linux.resources.devices.get(0).allow());
        OciSpec normal = gen(ContainerConfig.builder("c").command("x").build(), ImageConfig.empty());
        assertEquals(SpecOptions.DEFAULT_MASKED_PATHS, normal.linux.maskedPaths);
        assertEquals(SpecOptions.DEFAULT_READONLY_PATHS, normal.linux.readonlyPaths);
        assertFalse(normal.linux.resources.devices.get(0).allow());
    }

    @Test
    void seccompProfilesFromBothCriFields() throws Exception {
        assertTrue(SeccompProfiles.choose(null, "runtime/default") instanceof SeccompProfiles.RuntimeDefault);
        assertTrue(SeccompProfiles.choose(null, "docker/default") instanceof SeccompProfiles.RuntimeDefault);
        assertTrue(SeccompProfiles.choose(null, "unconfined") instanceof SeccompProfiles.Unconfined);
        assertTrue(SeccompProfiles.choose(null, "") instanceof SeccompProfiles.Unconfined);
        assertEquals(new SeccompProfiles.Localhost("/p.json"), SeccompProfiles.choose(null, "localhost//p.json"));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT,
                assertThrows(BerthException.class, () -> SeccompProfiles.choose(null, "apparmor/x")).kind());
        assertThrows(BerthException.class,
                () -> SeccompProfiles.choose(ContainerConfig.SeccompProfile.localhost("rel.json"), ""));
        // the structured field wins over the string
        assertTrue(SeccompProfiles.choose(ContainerConfig.SeccompProfile.unconfined(), "runtime/default")
                instanceof SeccompProfiles.Unconfined);
    }

    @Test
    void runtimeDefaultBlocksNamespaceCallsUnlessSysAdmin() {
        OciSpec.Seccomp plain = SeccompProfiles.runtimeDefault(Capabilities.DEFAULT, "amd64");
        assertEquals("SCMP_ACT_ERRNO", plain.defaultAction);
        assertEquals(List.of("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"), plain.architectures);
        Set<String> allowed = allowedNames(plain);
        assertTrue(allowed.containsAll(List.of("read", "write", "execve", "clone", "chroot", "arch_prctl")));
        for (String blocked : List.of("unshare", "mount", "setns", "kexec_load", "keyctl", "add_key", "ptrace",
                "init_module", "reboot", "bpf")) {
            assertFalse(allowed.contains(blocked), blocked);
        }
        OciSpec.Syscall clone = plain.syscalls.stream().filter(s -> s.names().equals(List.of("clone"))).findFirst()
                .orElseThrow();
        assertEquals("SCMP_CMP_MASKED_EQ", clone.args().get(0).op());
        assertTrue(plain.syscalls.stream().anyMatch(s -> s.names().contains("clone3") && s.errnoRet() == 38));
        List<String> admin = new ArrayList<>(Capabilities.DEFAULT);
        admin.add("CAP_SYS_ADMIN");
        Set<String> adminAllowed = allowedNames(SeccompProfiles.runtimeDefault(admin, "amd64"));
        assertTrue(adminAllowed.containsAll(List.of("unshare", "mount", "setns", "clone3")));
        assertFalse(adminAllowed.contains("kexec_load"));
        assertFalse(allowedNames(SeccompProfiles.runtimeDefault(Capabilities.DEFAULT, "aarch64")).contains("arch_prctl"));
    }

    private static Set<String> allowedNames(OciSpec.Seccomp s) {
        Set<String> out = new java.util.HashSet<>();
        s.syscalls.stream().filter(r -> r.action().equals("SCMP_ACT_ALLOW")).forEach(r -> out.addAll(r.names()));
        return out;
    }

    @Test
    void localhostProfileIsReadFromItsFile() throws Exception {
        Path p = tmp.resolve("profile.json");
        Files.writeString(p, "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\","
                + "\"subArchitectures\":[\"SCMP_ARCH_X86\"]}],\"syscalls\":[{\"names\":[\"mkdir\"],"
                + "\"action\":\"SCMP_ACT_ERRNO\"}]}");
        OciSpec s = gen(ContainerConfig.builder("c").command("x").security(new ContainerConfig.Security(List.of(),
                List.of(), false, null, "", null, List.of(), false, false, null, null,
                ContainerConfig.SeccompProfile.localhost(p.toString()), "")).build(), ImageConfig.empty());
        assertEquals("SCMP_ACT_ALLOW", s.linux.seccomp.defaultAction);
        assertEquals(List.of("SCMP_ARCH_X86_64", "SCMP_ARCH_X86"), s.linux.seccomp.architectures);
        assertEquals(List.of("mkdir"), s.linux.seccomp.syscalls.get(0).names());
        BerthException e = assertThrows(BerthException.class, () -> gen(ContainerConfig.builder("c").command("x")
                .security(new ContainerConfig.Security(List.of(), List.of(), false, null, "", null, List.of(), false,
                        false, null, null, null, "localhost/" + tmp.resolve("absent.json"))).build(), ImageConfig.empty()));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
    }

    @Test
    void oomScoreAdjIsNeverBelowBerthsOwnAndSaysWhy() throws Exception {
        HostFacts host = new HostFacts(Set.of(), 200, List.of(), List.of(), "amd64");
        List<String> warnings = new ArrayList<>();
        OciSpec s = ContainerSpecs.generate(ContainerConfig.builder("c").command("x")
                        .resources(new Resources(null, null, null, null, null, null, null, -998L, null, null, null))
                        .build(), ImageConfig.empty(), SandboxContext.standalone("sb", null), rootfs(), host, warnings::add);
        assertEquals(200, s.process.oomScoreAdj);
        assertEquals(1, warnings.size());
        assertTrue(warnings.get(0).contains("CAP_SYS_RESOURCE"), warnings.get(0));
        OciSpec high = ContainerSpecs.generate(ContainerConfig.builder("c").command("x")
                        .resources(new Resources(null, null, null, null, null, null, null, 999L, null, null, null))
                        .build(), ImageConfig.empty(), SandboxContext.standalone("sb", null), rootfs(), host, warnings::add);
        assertEquals(999, high.process.oomScoreAdj);
        assertEquals(1, warnings.size());
    }

    @Test
    void criMountsAreCheckedResolvedOrderedAndReplaceDefaults() throws Exception {
        Path data = Files.createDirectories(tmp.resolve("data"));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), data);
        Path hosts = Files.writeString(tmp.resolve("hosts"), "127.0.0.1 localhost\n");
        Path kubeletHosts = Files.writeString(tmp.resolve("kubelet-hosts"), "10.0.0.1 x\n");
        SandboxContext sb = SandboxContext.standalone("sb", null).withPodFiles(null, hosts.toString(), null, null, "");
        OciSpec s = gen(ContainerConfig.builder("c").command("x")
                .mount(new ContainerConfig.Mount("/data/sub", data.toString(), true, ContainerConfig.Propagation.PRIVATE))
                .mount(new ContainerConfig.Mount("/data", link.toString(), false,
                        ContainerConfig.Propagation.HOST_TO_CONTAINER))
                .mount(new ContainerConfig.Mount("/etc/hosts", kubeletHosts.toString(), false, null))
                .build(), ImageConfig.empty(), sb, new ArrayList<>());
        List<String> dests = s.mounts.stream().map(OciSpec.Mount::destination).toList();
        assertTrue(dests.indexOf("/data") < dests.indexOf("/data/sub"), dests.toString());
        OciSpec.Mount dataMount = s.mounts.stream().filter(m -> m.destination().equals("/data")).findFirst().orElseThrow();
        assertEquals(data.toRealPath().toString(), dataMount.source());
        assertEquals(List.of("rbind", "rslave", "rw"), dataMount.options());
        OciSpec.Mount sub = s.mounts.stream().filter(m -> m.destination().equals("/data/sub")).findFirst().orElseThrow();
        assertEquals(List.of("rbind", "rprivate", "ro"), sub.options());
        List<OciSpec.Mount> etcHosts = s.mounts.stream().filter(m -> m.destination().equals("/etc/hosts")).toList();
        assertEquals(1, etcHosts.size());
        assertEquals(kubeletHosts.toString(), etcHosts.get(0).source());
        assertEquals("rslave", s.linux.rootfsPropagation);
        for (String d : List.of("/proc", "/dev", "/dev/pts", "/dev/mqueue", "/dev/shm", "/sys", "/sys/fs/cgroup")) {
            assertTrue(dests.contains(d), d);
        }
        OciSpec.Mount sys = s.mounts.stream().filter(m -> m.destination().equals("/sys")).findFirst().orElseThrow();
        assertTrue(sys.options().contains("ro"));
        BerthException e = assertThrows(BerthException.class, () -> gen(ContainerConfig.builder("c").command("x")
                .mount(new ContainerConfig.Mount("/m", tmp.resolve("missing").toString(), false, null)).build(),
                ImageConfig.empty()));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
    }

    @Test
    void namespacesAreJoinedByPathNewOrLeftToTheHost() throws Exception {
        Path netns = Files.writeString(tmp.resolve("netns"), "");
        SandboxContext sb = SandboxContext.standalone("sb", null).withNamespaces(
                SandboxContext.Namespace.join(netns.toString()), SandboxContext.Namespace.host(),
                SandboxContext.Namespace.ownNew(), SandboxContext.Namespace.ownNew());
        OciSpec s = gen(ContainerConfig.builder("c").command("x").build(), ImageConfig.empty(), sb, new ArrayList<>());
        assertEquals(List.of(new OciSpec.Namespace("mount", null), new OciSpec.Namespace("network", netns.toString()),
                new OciSpec.Namespace("uts", null), new OciSpec.Namespace("pid", null)), s.linux.namespaces);
        SandboxContext gone = sb.withNamespaces(SandboxContext.Namespace.join(tmp.resolve("nope").toString()), null,
                null, null);
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, assertThrows(BerthException.class,
                () -> gen(ContainerConfig.builder("c").command("x").build(), ImageConfig.empty(), gone,
                        new ArrayList<>())).kind());
    }

    @Test
    void onACgroupV2HostAContainerGetsItsOwnCgroupNamespaceUnlessPrivileged() throws Exception {
        HostFacts v2 = new HostFacts(HOST.ownCapabilities(), 0, List.of(), List.of(), "amd64", true);
        SandboxContext sb = SandboxContext.standalone("sb", null);
        OciSpec s = ContainerSpecs.generate(ContainerConfig.builder("c").command("x").build(), ImageConfig.empty(), sb,
                rootfs(), v2, w -> { });
        assertTrue(s.linux.namespaces.contains(new OciSpec.Namespace("cgroup", null)), "private cgroup namespace on v2");
        OciSpec privileged = ContainerSpecs.generate(ContainerConfig.builder("c").command("x")
                .security(new ContainerConfig.Security(List.of(), List.of(), true, null, "", null, List.of(), false, false,
                        null, null, null, "")).build(), ImageConfig.empty(), sb,
                rootfs(), v2, w -> { });
        assertFalse(privileged.linux.namespaces.stream().anyMatch(n -> n.type().equals("cgroup")),
                "a privileged container keeps the host's, as with containerd");
        OciSpec hybrid = ContainerSpecs.generate(ContainerConfig.builder("c").command("x").build(), ImageConfig.empty(), sb,
                rootfs(), HOST, w -> { });
        assertFalse(hybrid.linux.namespaces.stream().anyMatch(n -> n.type().equals("cgroup")),
                "v1 controllers: the host's cgroup namespace, as with containerd");
    }

    @Test
    void resourcesCgroupPathAnnotationsAndDevicesGoIntoLinux() throws Exception {
        OciSpec s = gen(ContainerConfig.builder("c").command("x")
                .annotations(Map.of("io.example/a", "b"))
                .device(new ContainerConfig.Device("/dev/mynull", "/dev/null", "rw"))
                .resources(new Resources(256L, 50000L, 100000L, "0", "0", 1L << 30, 2L << 30, null, null,
                        Map.of("2MB", 4L << 20), Map.of("memory.high", "100000")))
                .build(), ImageConfig.empty());
        assertEquals(256L, s.linux.resources.cpu.shares);
        assertEquals(50000L, s.linux.resources.cpu.quota);
        assertEquals(100000L, s.linux.resources.cpu.period);
        assertEquals("0", s.linux.resources.cpu.cpus);
        assertEquals(1L << 30, s.linux.resources.memory.limit);
        assertEquals(2L << 30, s.linux.resources.memory.swap);
        assertEquals(List.of(new OciSpec.HugepageLimit("2MB", 4L << 20)), s.linux.resources.hugepageLimits);
        assertEquals(Map.of("memory.high", "100000"), s.linux.resources.unified);
        assertEquals("/pod/ctr", s.linux.cgroupsPath);
        assertEquals("b", s.annotations.get("io.example/a"));
        OciSpec.LinuxDevice dev = s.linux.devices.get(0);
        assertEquals("/dev/mynull", dev.path());
        assertEquals(1, dev.major());
        assertEquals(3, dev.minor());
        assertEquals(new OciSpec.DeviceRule(true, "c", 1L, 3L, "rw"), s.linux.resources.devices.get(1));
        String json = Json.write(s);
        assertTrue(json.contains("\"pageSize\":\"2MB\""), json);
        assertThrows(BerthException.class, () -> gen(ContainerConfig.builder("c").command("x")
                .device(new ContainerConfig.Device("/dev/x", tmp.toString(), "rwm")).build(), ImageConfig.empty()));
    }
}
