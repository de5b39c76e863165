package dev.berth.agent.volume;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.pod.PodDirs;
import dev.berth.host.LinuxMounts;
import dev.berth.host.MountTable;
import io.fabric8.kubernetes.api.model.Pod;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Real tmpfs mounts for Memory emptyDirs and secrets: sized as asked, gone with the pod, unmounted even when a test fails. */
@Tag("root")
class PodVolumesRootTest {
    @TempDir
    Path tmp;

    @AfterEach
    void unmountWhatIsLeft() {
        LinuxMounts.INSTANCE.unmountAllUnder(tmp);
    }

    @Test
    void memoryEmptyDirsAndSecretsAreTmpfsMountsOfTheirSizeThatGoWithThePod() throws IOException {
        PodDirs dirs = new PodDirs(tmp.resolve("state"));
        MapObjectSource objects = new MapObjectSource(Clock.systemUTC()).secret("default", "creds", Map.of("password", "hunter2"));
        PodVolumes volumes = new PodVolumes(dirs, objects, LinuxMounts.INSTANCE, new NodeAllocatable(1000, 1L << 30, 0), "", tmp,
                Clock.systemUTC());
        Pod pod = PodVolumesTest.pod("""
                apiVersion: v1
                kind: Pod
                metadata: {name: p}
                spec:
                  containers: [{name: c, image: i}]
                  volumes:
                  - {name: fast, emptyDir: {medium: Memory, sizeLimit: 1Mi}}
                  - {name: creds, secret: {secretName: creds}}
                """);
        String uid = pod.getMetadata().getUid();
        volumes.setUp(pod);
        Path fast = dirs.volume(uid, PodVolumes.EMPTY_DIR, "fast");
        Path creds = dirs.volume(uid, PodVolumes.SECRET, "creds");
        for (Path p : new Path[] {fast, creds}) {
            MountTable.Mount m = MountTable.containing(p);
            assertEquals(p, m.mountPoint());
            assertEquals("tmpfs", m.fsType());
        }
        assertEquals("hunter2", Files.readString(creds.resolve("password")));
        Files.write(fast.resolve("small"), new byte[512 * 1024]);
        assertThrows(IOException.class, () -> Files.write(fast.resolve("big"), new byte[2 << 20]), "the sizeLimit holds");

        volumes.setUp(pod); // again, as for an adopted pod: nothing mounted twice
        assertEquals(2, MountTable.mountCountUnder(dirs.pod(uid)));

        volumes.tearDown(uid);
        assertEquals(0, MountTable.mountCountUnder(tmp));
        assertFalse(Files.exists(dirs.pod(uid)));
        assertTrue(Files.isDirectory(dirs.podsDir()));
    }
}
