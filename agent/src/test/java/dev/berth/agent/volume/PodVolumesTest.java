package dev.berth.agent.volume;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.pod.PodDirs;
import dev.berth.agent.staticpod.ManifestParser;
import dev.berth.agent.testing.MutableClock;
import dev.berth.cri.v1.Mount;
import dev.berth.cri.v1.MountPropagation;
import dev.berth.host.MountTable;
import dev.berth.host.testing.FakeMounts;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PodVolumesTest {
    private static final long GIB = 1L << 30;

    @TempDir
    Path tmp;

    private final FakeMounts mounts = new FakeMounts();
    private final MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
    private final MapObjectSource objects = new MapObjectSource(clock);
    private PodDirs dirs;
    private PodVolumes volumes;

    @BeforeEach
    void setUp() throws IOException {
        dirs = new PodDirs(tmp.resolve("state"));
        Path hosts = Files.writeString(tmp.resolve("node-hosts"), "127.0.0.1 localhost\n192.0.2.7 node-1\n");
        volumes = new PodVolumes(dirs, objects, mounts, new NodeAllocatable(4000, 8 * GIB, 100 * GIB), "cluster.local", hosts, clock);
    }

    static Pod pod(String yaml) {
        return new ManifestParser("node-1").parse(Path.of("/m/pod.yaml"), yaml).get(0);
    }

    private static String podWith(String volumes, String mounts) {
        return """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: web
                  namespace: shop
                  labels: {app: web, tier: "front \\"end\\""}
                  annotations: {note: kept}
                spec:
                  hostname: www
                  subdomain: sub
                  hostAliases:
                  - {ip: 192.0.2.10, hostnames: [db, db.local]}
                  containers:
                  - name: app
                    image: local/web:1
                    resources:
                      limits: {memory: 64Mi}
                      requests: {cpu: 250m}
                %s
                  volumes:
                %s
                """.formatted(mounts.equals("[]") ? "    volumeMounts: []" : "    volumeMounts:\n" + mounts.indent(4), volumes.indent(2));
    }

    private Path volume(Pod pod, String plugin, String name) {
        return dirs.volume(pod.getMetadata().getUid(), plugin, name);
    }

    private static Container app(Pod pod) {
        return pod.getSpec().getContainers().get(0);
    }

    private static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    @Test
    void anEmptyDirOnDiskIsWritableByAnyUserAndKeptWhenThePodIsSetUpAgain() throws IOException {
        Pod pod = pod(podWith("- {name: scratch, emptyDir: {}}", "- {name: scratch, mountPath: /scratch}"));
        volumes.setUp(pod);
        Path dir = volume(pod, PodVolumes.EMPTY_DIR, "scratch");
        assertEquals("rwxrwxrwx", mode(dir));
        assertEquals("rwxr-x---", mode(dirs.pod(pod.getMetadata().getUid())));
        assertEquals("rwx------", mode(dirs.podsDir()));
        Files.writeString(dir.resolve("kept"), "x");
        // a restarted agent sets an adopted pod up again
        new PodVolumes(dirs, objects, mounts, new NodeAllocatable(1, 1, 1), "", tmp, clock).setUp(pod);
        assertEquals("x", Files.readString(dir.resolve("kept")));
        assertEquals(List.of(), mounts.mounted());
    }

    @Test
    void aMemoryEmptyDirIsATmpfsOfItsSizeLimitOrTheNodesMemoryAndGoesWithThePod() {
        Pod pod = pod(podWith("- {name: fast, emptyDir: {medium: Memory, sizeLimit: 32Mi}}\n- {name: big, emptyDir: {medium: Memory}}",
                "- {name: fast, mountPath: /fast}"));
        volumes.setUp(pod);
        volumes.setUp(pod);
        List<MountTable.Mount> m = mounts.mounted();
        assertEquals(2, m.size(), "mounted once each: " + m);
        assertEquals(volume(pod, PodVolumes.EMPTY_DIR, "fast"), m.get(0).mountPoint());
        assertEquals("tmpfs", m.get(0).fsType());
        volumes.tearDown(pod.getMetadata().getUid());
        assertEquals(List.of(), mounts.mounted());
        assertFalse(Files.exists(dirs.pod(pod.getMetadata().getUid())));
    }

    @Test
    void configMapItemsModesAndDefaultModeAreHonoured() throws IOException {
        objects.configMap("shop", "cfg", Map.of("a.conf", "A", "b.conf", "B", "c.conf", "C"));
        Pod pod = pod(podWith("""
                - name: all
                  configMap: {name: cfg, defaultMode: 0400}
                - name: some
                  configMap:
                    name: cfg
                    items:
                    - {key: a.conf, path: conf/renamed}
                    - {key: b.conf, path: b, mode: 0600}
                """, "- {name: all, mountPath: /all}"));
        volumes.setUp(pod);
        Path all = volume(pod, PodVolumes.CONFIG_MAP, "all");
        assertEquals("A", Files.readString(all.resolve("a.conf")));
        assertEquals("C", Files.readString(all.resolve("c.conf")));
        assertEquals("r--------", mode(all.resolve("a.conf")));
        Path some = volume(pod, PodVolumes.CONFIG_MAP, "some");
        assertEquals("A", Files.readString(some.resolve("conf/renamed")));
        assertEquals("rw-r--r--", mode(some.resolve("conf/renamed")));
        assertEquals("rw-------", mode(some.resolve("b")));
        assertFalse(Files.exists(some.resolve("c.conf"), LinkOption.NOFOLLOW_LINKS));
        assertEquals(List.of(), mounts.mounted(), "configMaps stay on disk");
    }

    @Test
    void aMissingObjectOrKeyIsAnErrorUnlessOptional() {
        objects.configMap("shop", "cfg", Map.of("a", "A"));
        VolumeException missing = assertThrows(VolumeException.class,
                () -> volumes.setUp(pod(podWith("- {name: v, configMap: {name: nope}}", "[]"))));
        assertEquals("volume \"v\": configmap \"nope\" not found", missing.getMessage());
        VolumeException key = assertThrows(VolumeException.class, () -> volumes.setUp(pod(podWith(
                "- {name: v, configMap: {name: cfg, items: [{key: b, path: b}]}}", "[]"))));
        assertTrue(key.getMessage().contains("has no key \"b\""), key.getMessage());
        VolumeException secret = assertThrows(VolumeException.class,
                () -> volumes.setUp(pod(podWith("- {name: v, secret: {secretName: nope}}", "[]"))));
        assertTrue(secret.getMessage().contains("secret \"nope\" not found"), secret.getMessage());

        Pod optional = pod(podWith("""
                - {name: v, configMap: {name: nope, optional: true}}
                - {name: w, configMap: {name: cfg, optional: true, items: [{key: a, path: a}, {key: b, path: b}]}}
                - {name: s, secret: {secretName: nope, optional: true}}
                """, "[]"));
        volumes.setUp(optional);
        assertTrue(Files.isDirectory(volume(optional, PodVolumes.CONFIG_MAP, "v")));
        assertTrue(Files.exists(volume(optional, PodVolumes.CONFIG_MAP, "w").resolve("a")));
        assertFalse(Files.exists(volume(optional, PodVolumes.CONFIG_MAP, "w").resolve("b"), LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void secretsAreWrittenOnATmpfsMountedFirst() throws IOException {
        objects.secret("shop", "creds", Map.of("password", "hunter2"));
        Pod pod = pod(podWith("- {name: creds, secret: {secretName: creds}}", "- {name: creds, mountPath: /creds}"));
        volumes.setUp(pod);
        Path dir = volume(pod, PodVolumes.SECRET, "creds");
        assertEquals(List.of(dir), mounts.mounted().stream().map(MountTable.Mount::mountPoint).toList());
        assertEquals("tmpfs", mounts.mounted().get(0).fsType());
        assertEquals("hunter2", Files.readString(dir.resolve("password")));
        Mount m = volumes.containerMounts(pod, app(pod), 0, k -> null, List.of()).get(0);
        assertTrue(m.getReadonly(), "secret volumes are read-only even when the mount does not say so");
    }

    @Test
    void aHostileItemPathIsRefused() {
        objects.configMap("shop", "cfg", Map.of("a", "A"));
        for (String bad : List.of("../../../../etc/cron.d/x", "/etc/passwd", "..data/x")) {
            VolumeException e = assertThrows(VolumeException.class, () -> volumes.setUp(pod(podWith(
                    "- {name: v, configMap: {name: cfg, items: [{key: a, path: \"" + bad + "\"}]}}", "[]"))));
            assertTrue(e.getMessage().contains("invalid path"), e.getMessage());
        }
        assertFalse(Files.exists(tmp.resolve("etc")));
    }

    @Test
    void downwardApiWritesMetadataAndResourcesTheKubeletsWay() throws IOException {
        Pod pod = pod(podWith("""
                - name: info
                  downwardAPI:
                    items:
                    - {path: name, fieldRef: {fieldPath: metadata.name}}
                    - {path: ns, fieldRef: {fieldPath: metadata.namespace}}
                    - {path: uid, fieldRef: {fieldPath: metadata.uid}}
                    - {path: labels, fieldRef: {fieldPath: metadata.labels}}
                    - {path: app, fieldRef: {fieldPath: "metadata.labels['app']"}}
                    - {path: mem, resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}}
                    - {path: cpu, resourceFieldRef: {containerName: app, resource: limits.cpu, divisor: 1m}}
                    - {path: cpureq, resourceFieldRef: {containerName: app, resource: requests.cpu}}
                """, "[]"));
        volumes.setUp(pod);
        Path dir = volume(pod, PodVolumes.DOWNWARD_API, "info");
        assertEquals("web-node-1", Files.readString(dir.resolve("name")));
        assertEquals("shop", Files.readString(dir.resolve("ns")));
        assertEquals(pod.getMetadata().getUid(), Files.readString(dir.resolve("uid")));
        assertEquals("app=\"web\"\ntier=\"front \\\"end\\\"\"", Files.readString(dir.resolve("labels")));
        assertEquals("web", Files.readString(dir.resolve("app")));
        assertEquals("64", Files.readString(dir.resolve("mem")));
        assertEquals("4000", Files.readString(dir.resolve("cpu")), "no cpu limit: the node's allocatable");
        assertEquals("1", Files.readString(dir.resolve("cpureq")), "250m rounded up to whole cores");
    }

    @Test
    void aChangedConfigMapIsSwappedInByRefreshAndAnUnchangedOneIsLeft() throws IOException {
        objects.configMap("shop", "cfg", Map.of("a", "1"));
        Pod pod = pod(podWith("- {name: v, configMap: {name: cfg}}", "[]"));
        volumes.setUp(pod);
        Path dir = volume(pod, PodVolumes.CONFIG_MAP, "v");
        assertEquals(0, volumes.refresh());
        objects.configMap("shop", "cfg", Map.of("a", "2", "b", "3"));
        assertEquals(1, volumes.refresh());
        assertEquals("2", Files.readString(dir.resolve("a")));
        assertEquals("3", Files.readString(dir.resolve("b")));
        objects.configMaps.clear();
        assertEquals(0, volumes.refresh());
        assertEquals("2", Files.readString(dir.resolve("a")), "a source that cannot be read now leaves the files as they were");
        volumes.tearDown(pod.getMetadata().getUid());
        assertEquals(0, volumes.refresh(), "a pod torn down is not refreshed");
    }

    @Test
    void projectedVolumesMergeTheirSourcesOnATmpfsAndRenewTokensAt80PercentOfTheirLife() throws IOException {
        objects.configMap("shop", "ca", Map.of("ca.crt", "CA"));
        objects.secret("shop", "creds", Map.of("user", "u"));
        Pod pod = pod(podWith("""
                - name: api
                  projected:
                    defaultMode: 0440
                    sources:
                    - serviceAccountToken: {path: token, audience: vault, expirationSeconds: 1000}
                    - configMap: {name: ca, items: [{key: ca.crt, path: ca.crt}]}
                    - secret: {name: creds}
                    - downwardAPI: {items: [{path: namespace, fieldRef: {fieldPath: metadata.namespace}}]}
                """, "[]").replace("  hostname: www", "  serviceAccountName: robot\n  hostname: www"));
        volumes.setUp(pod);
        Path dir = volume(pod, PodVolumes.PROJECTED, "api");
        assertEquals("tmpfs", mounts.mounted().get(0).fsType());
        assertEquals("token-1", Files.readString(dir.resolve("token")));
        assertEquals("CA", Files.readString(dir.resolve("ca.crt")));
        assertEquals("u", Files.readString(dir.resolve("user")));
        assertEquals("shop", Files.readString(dir.resolve("namespace")));
        assertEquals("r--r-----", mode(dir.resolve("token")));
        assertEquals(List.of("shop/robot [vault] 1000 " + pod.getMetadata().getUid()), objects.tokenRequests);

        clock.advance(Duration.ofSeconds(790));
        volumes.refresh();
        assertEquals(1, objects.tokenRequests.size(), "not due before 80% of its life");
        clock.advance(Duration.ofSeconds(20));
        assertEquals(1, volumes.refresh());
        assertEquals("token-2", Files.readString(dir.resolve("token")));
    }

    @Test
    void aTokenBelowTheMinimumLifetimeIsRefused() {
        VolumeException e = assertThrows(VolumeException.class, () -> volumes.setUp(pod(podWith(
                "- {name: t, projected: {sources: [{serviceAccountToken: {path: t, expirationSeconds: 60}}]}}", "[]"))));
        assertTrue(e.getMessage().contains("below 600"), e.getMessage());
    }

    @Test
    void hostPathTypesAreChecked() throws IOException {
        Path existingDir = Files.createDirectory(tmp.resolve("dir"));
        Path file = Files.writeString(tmp.resolve("file"), "f");
        Path socket = tmp.resolve("sock");
        try (ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.bind(UnixDomainSocketAddress.of(socket));
            Map<String, String> ok = Map.of(
                    existingDir.toString(), "Directory",
                    tmp.resolve("made/deep").toString(), "DirectoryOrCreate",
                    tmp.resolve("made-file").toString(), "FileOrCreate",
                    file.toString(), "File",
                    socket.toString(), "Socket",
                    "/dev/null", "CharDevice",
                    tmp.resolve("anything").toString(), "");
            for (Map.Entry<String, String> e : ok.entrySet()) {
                volumes.setUp(pod(podWith("- {name: h, hostPath: {path: \"" + e.getKey() + "\", type: \"" + e.getValue() + "\"}}", "[]")));
            }
            assertTrue(Files.isDirectory(tmp.resolve("made/deep")));
            assertEquals("rw-r--r--", mode(tmp.resolve("made-file")));

            Map<String, String> bad = Map.of(
                    tmp.resolve("missing").toString(), "is not a directory",
                    file.toString(), "is not a directory",
                    existingDir + "#File", "is not a file",
                    file + "#Socket", "is not a socket",
                    "/dev/null#BlockDevice", "is not a block device",
                    tmp.resolve("no/parent") + "#FileOrCreate", "cannot be created");
            for (Map.Entry<String, String> e : bad.entrySet()) {
                String[] pt = e.getKey().split("#");
                String type = pt.length > 1 ? pt[1] : "Directory";
                VolumeException ex = assertThrows(VolumeException.class, () -> volumes.setUp(pod(podWith(
                        "- {name: h, hostPath: {path: \"" + pt[0] + "\", type: " + type + "}}", "[]"))), e.getKey());
                assertTrue(ex.getMessage().startsWith("volume \"h\": hostPath type check failed: "), ex.getMessage());
                assertTrue(ex.getMessage().contains(e.getValue()), ex.getMessage());
            }
        }
    }

    @Test
    void mountsCarryReadOnlySubPathsAndPropagation() throws IOException {
        Path host = Files.createDirectories(tmp.resolve("host/logs/app"));
        Pod pod = pod(podWith("""
                - {name: scratch, emptyDir: {}}
                - {name: host, hostPath: {path: "%s"}}
                """.formatted(tmp.resolve("host")), """
                - {name: scratch, mountPath: /data, readOnly: true}
                - {name: scratch, mountPath: /cache, subPath: cache/one}
                - {name: host, mountPath: /logs, subPathExpr: "logs/$(APP)", mountPropagation: HostToContainer}
                """));
        volumes.setUp(pod);
        List<Mount> m = volumes.containerMounts(pod, app(pod), 2, Map.of("APP", "app")::get, List.of());
        Path scratch = volume(pod, PodVolumes.EMPTY_DIR, "scratch");
        assertEquals(Mount.newBuilder().setContainerPath("/data").setHostPath(scratch.toString()).setReadonly(true).build(), m.get(0));
        assertEquals(scratch.toRealPath().resolve("cache/one").toString(), m.get(1).getHostPath());
        assertTrue(Files.isDirectory(scratch.resolve("cache/one")), "a missing subPath is made");
        assertEquals(host.toRealPath().toString(), m.get(2).getHostPath());
        assertEquals(MountPropagation.PROPAGATION_HOST_TO_CONTAINER, m.get(2).getPropagation());
        assertFalse(m.get(1).getReadonly());
    }

    @Test
    void subPathsThatLeaveTheVolumeAreRefusedAlsoThroughSymlinks() throws IOException {
        Pod pod = pod(podWith("- {name: scratch, emptyDir: {}}", "- {name: scratch, mountPath: /x}"));
        volumes.setUp(pod);
        Path scratch = volume(pod, PodVolumes.EMPTY_DIR, "scratch");
        // what a container could have left in its volume
        Files.createSymbolicLink(scratch.resolve("root"), Path.of("/"));
        Files.createSymbolicLink(scratch.resolve("up"), Path.of("../../../.."));
        Files.createDirectories(scratch.resolve("ok"));
        Files.createSymbolicLink(scratch.resolve("inside"), Path.of("ok"));
        for (String sub : List.of("../x", "a/../../x", "/etc", "root", "root/etc", "up/x", "up")) {
            VolumeException e = assertThrows(VolumeException.class, () -> PodVolumes.subPath(scratch, sub, "scratch"), sub);
            assertTrue(e.getMessage().contains("subPath"), e.getMessage());
        }
        assertFalse(Files.exists(Path.of("/x")));
        assertEquals(scratch.toRealPath().resolve("ok"), PodVolumes.subPath(scratch, "inside", "scratch"), "a link within is fine");

        Pod expr = pod(podWith("- {name: scratch, emptyDir: {}}", "- {name: scratch, mountPath: /x, subPathExpr: \"$(WHERE)\"}"));
        volumes.setUp(expr);
        VolumeException e = assertThrows(VolumeException.class,
                () -> volumes.containerMounts(expr, app(expr), 0, Map.of("WHERE", "../../etc")::get, List.of()));
        assertTrue(e.getMessage().contains("must not contain '..'"), e.getMessage());
    }

    @Test
    void bidirectionalPropagationNeedsAPrivilegedContainer() {
        Pod pod = pod(podWith("- {name: s, emptyDir: {}}", "- {name: s, mountPath: /s, mountPropagation: Bidirectional}"));
        volumes.setUp(pod);
        VolumeException e = assertThrows(VolumeException.class, () -> volumes.containerMounts(pod, app(pod), 0, k -> null, List.of()));
        assertTrue(e.getMessage().contains("privileged"), e.getMessage());
        app(pod).setSecurityContext(new io.fabric8.kubernetes.api.model.SecurityContextBuilder().withPrivileged(true).build());
        assertEquals(MountPropagation.PROPAGATION_BIDIRECTIONAL,
                volumes.containerMounts(pod, app(pod), 0, k -> null, List.of()).get(0).getPropagation());
    }

    @Test
    void everyContainerRunGetsAnEmptyWorldWritableTerminationMessageFile() throws IOException {
        Pod pod = pod(podWith("- {name: s, emptyDir: {}}", "[]"));
        volumes.setUp(pod);
        List<Mount> m = volumes.containerMounts(pod, app(pod), 3, k -> null, List.of());
        Path file = dirs.terminationMessage(pod.getMetadata().getUid(), "app", 3);
        assertEquals(Mount.newBuilder().setContainerPath("/dev/termination-log").setHostPath(file.toString()).build(), m.get(0));
        assertEquals(0, Files.size(file));
        assertEquals("rw-rw-rw-", mode(file));
        app(pod).setTerminationMessagePath("/tmp/done");
        assertEquals("/tmp/done", volumes.containerMounts(pod, app(pod), 4, k -> null, List.of()).get(0).getContainerPath());
    }

    @Test
    void etcHostsHasLocalhostThePodsNamesAndItsAliases() throws IOException {
        Pod pod = pod(podWith("- {name: s, emptyDir: {}}", "[]"));
        volumes.setUp(pod);
        assertEquals(1, volumes.containerMounts(pod, app(pod), 0, k -> null, List.of()).size(), "no IP yet: no hosts file");
        List<Mount> m = volumes.containerMounts(pod, app(pod), 0, k -> null, List.of("10.1.2.3", "fd00::3"));
        Mount hosts = m.get(1);
        assertEquals("/etc/hosts", hosts.getContainerPath());
        assertEquals(dirs.pod(pod.getMetadata().getUid()).resolve("etc-hosts").toString(), hosts.getHostPath());
        assertEquals("""
                # Kubernetes-managed hosts file.
                127.0.0.1\tlocalhost
                ::1\tlocalhost ip6-localhost ip6-loopback
                fe00::0\tip6-localnet
                fe00::0\tip6-mcastprefix
                fe00::1\tip6-allnodes
                fe00::2\tip6-allrouters
                10.1.2.3\twww.sub.shop.svc.cluster.local\twww
                fd00::3\twww.sub.shop.svc.cluster.local\twww

                # Entries added by HostAliases.
                192.0.2.10\tdb\tdb.local
                """, Files.readString(Path.of(hosts.getHostPath())));
        assertEquals("rw-r--r--", mode(Path.of(hosts.getHostPath())));

        pod.getSpec().setHostNetwork(true);
        volumes.containerMounts(pod, app(pod), 0, k -> null, List.of());
        assertEquals("# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n192.0.2.7 node-1\n"
                + "\n# Entries added by HostAliases.\n192.0.2.10\tdb\tdb.local\n", Files.readString(Path.of(hosts.getHostPath())));
    }

    @Test
    void aVolumeMountedAtEtcHostsReplacesTheManagedOne() {
        Pod pod = pod(podWith("- {name: h, hostPath: {path: /etc/hosts, type: File}}", "- {name: h, mountPath: /etc/hosts}"));
        volumes.setUp(pod);
        List<Mount> m = volumes.containerMounts(pod, app(pod), 0, k -> null, List.of("10.1.2.3"));
        assertEquals(List.of("/etc/hosts", "/dev/termination-log"), m.stream().map(Mount::getContainerPath).toList());
        assertEquals("/etc/hosts", m.get(0).getHostPath());
    }

    @Test
    void aMountOfAnUnknownVolumeOrAnUnsupportedKindIsAnError() {
        Pod pod = pod(podWith("- {name: s, emptyDir: {}}", "- {name: nope, mountPath: /n}"));
        volumes.setUp(pod);
        assertThrows(VolumeException.class, () -> volumes.containerMounts(pod, app(pod), 0, k -> null, List.of()));
        VolumeException e = assertThrows(VolumeException.class,
                () -> volumes.setUp(pod(podWith("- {name: data, persistentVolumeClaim: {claimName: c}}", "[]"))));
        assertTrue(e.getMessage().contains("not supported"), e.getMessage());
    }

    @Test
    void theDirectoriesOfPodsNoLongerRunAreRemovedOthersKept() throws IOException {
        Pod live = pod(podWith("- {name: s, emptyDir: {medium: Memory}}", "[]"));
        Pod gone = pod(podWith("- {name: s, emptyDir: {medium: Memory}}", "[]").replace("name: web", "name: old"));
        volumes.setUp(live);
        volumes.setUp(gone);
        // a restarted agent knows neither
        PodVolumes restarted = new PodVolumes(dirs, objects, mounts, new NodeAllocatable(1, 1, 1), "", tmp, clock);
        assertEquals(List.of(gone.getMetadata().getUid()), restarted.removeOrphans(Set.of(live.getMetadata().getUid())));
        assertFalse(Files.exists(dirs.pod(gone.getMetadata().getUid())));
        assertTrue(Files.exists(dirs.pod(live.getMetadata().getUid())));
        assertEquals(List.of(volume(live, PodVolumes.EMPTY_DIR, "s")), mounts.mounted().stream().map(MountTable.Mount::mountPoint).toList());
    }

    @Test
    void aStandaloneAgentRefusesApiObjectsSaying() {
        PodVolumes standalone = new PodVolumes(dirs, ObjectSource.standalone(), mounts, new NodeAllocatable(1, 1, 1), "", tmp, clock);
        VolumeException e = assertThrows(VolumeException.class,
                () -> standalone.setUp(pod(podWith("- {name: v, configMap: {name: cfg, optional: true}}", "[]"))));
        assertEquals("volume \"v\": cannot get configMap shop/cfg: the agent runs without an API server, and a static pod cannot "
                + "reference API objects", e.getMessage());
    }

    @Test
    void anImageVolumeIsMountedReadOnlyFromThePulledImageWithItsSubPath() {
        Pod pod = pod(podWith("- {name: tools, image: {reference: \"local/tools:1\", pullPolicy: IfNotPresent}}",
                "- {name: tools, mountPath: /opt/tools, subPath: bin}"));
        volumes.setUp(pod);
        assertTrue(mounts.mounted().isEmpty(), "the runtime mounts image volumes, not the agent");
        VolumeException notPulled = assertThrows(VolumeException.class, () -> volumes.containerMounts(pod, app(pod), 0, k -> null, List.of()));
        assertTrue(notPulled.getMessage().contains("not pulled"), notPulled.getMessage());
        Mount m = volumes.containerMounts(pod, app(pod), 0, k -> null, List.of(), Map.of("tools", "sha256:abc"), false).get(0);
        assertEquals("/opt/tools", m.getContainerPath());
        assertEquals("sha256:abc", m.getImage().getImage());
        assertEquals("bin", m.getImageSubPath());
        assertEquals("", m.getHostPath());
        assertTrue(m.getReadonly());
    }

    @Test
    void recursiveReadOnlyFollowsTheKubeletsRules() {
        Pod pod = pod(podWith("- {name: s, emptyDir: {}}\n- {name: t, emptyDir: {}}\n- {name: u, emptyDir: {}}",
                "- {name: s, mountPath: /s, readOnly: true, recursiveReadOnly: IfPossible}\n"
                        + "- {name: t, mountPath: /t, readOnly: true, recursiveReadOnly: Enabled}\n"
                        + "- {name: u, mountPath: /u, readOnly: true}"));
        volumes.setUp(pod);
        List<Mount> made = volumes.containerMounts(pod, app(pod), 0, k -> null, List.of(), Map.of(), true);
        assertEquals(List.of(true, true, false), made.subList(0, 3).stream().map(Mount::getRecursiveReadOnly).toList());
        VolumeException unsupported = assertThrows(VolumeException.class,
                () -> volumes.containerMounts(pod, app(pod), 0, k -> null, List.of(), Map.of(), false));
        assertTrue(unsupported.getMessage().contains("volume t of container app requested recursive read-only mode, but it is not supported by the runtime"),
                unsupported.getMessage());

        Pod ifPossible = pod(podWith("- {name: s, emptyDir: {}}", "- {name: s, mountPath: /s, readOnly: true, recursiveReadOnly: IfPossible}"));
        volumes.setUp(ifPossible);
        assertFalse(volumes.containerMounts(ifPossible, app(ifPossible), 0, k -> null, List.of(), Map.of(), false).get(0).getRecursiveReadOnly(),
                "IfPossible on a runtime without it: a plain read-only mount");

        Pod writable = pod(podWith("- {name: s, emptyDir: {}}", "- {name: s, mountPath: /s, recursiveReadOnly: Enabled}"));
        volumes.setUp(writable);
        VolumeException notRo = assertThrows(VolumeException.class,
                () -> volumes.containerMounts(writable, app(writable), 0, k -> null, List.of(), Map.of(), true));
        assertTrue(notRo.getMessage().contains("but it is not read-only"), notRo.getMessage());
    }
}
