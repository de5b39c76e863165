package dev.berth.cgroups;

import static dev.berth.cgroups.ConversionsTest.assertInvalid;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class CgroupDriverTest {
    private static final CgroupDriver FS = CgroupDriver.CGROUPFS;
    private static final CgroupDriver SD = CgroupDriver.SYSTEMD;

    @Test
    void cgroupfsParentsAreNormalisedPaths() {
        assertEquals("/kubepods/burstable/pod1234", FS.podPath("/kubepods/burstable/pod1234"));
        assertEquals("/kubepods/burstable/pod1234", FS.podPath("kubepods/burstable/pod1234/"));
        assertEquals("/kubepods/pod1", FS.podPath("//kubepods//pod1"));
        assertInvalid(() -> FS.podPath("/kubepods/../etc"));
        assertInvalid(() -> FS.podPath("/kubepods/./x"));
        assertInvalid(() -> FS.podPath(""));
        assertInvalid(() -> FS.podPath(null));
    }

    @Test
    void cgroupfsContainersArePathsUnderThePod() {
        assertEquals("/kubepods/burstable/pod1234/abcdef", FS.containerPath("/kubepods/burstable/pod1234", "abcdef"));
        assertEquals("/kubepods/burstable/pod1234/abcdef", FS.resolve("/kubepods/burstable/pod1234/abcdef"));
        assertInvalid(() -> FS.containerPath("/kubepods/pod1", "../x"));
        assertInvalid(() -> FS.containerPath("/kubepods/pod1", "a/b"));
        assertInvalid(() -> FS.containerPath("/kubepods/pod1", ""));
    }

    @Test
    void slicesExpandToTheNestedPathSystemdUses() {
        assertEquals("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice",
                SD.podPath("kubepods-burstable-pod1234.slice"));
        assertEquals("/kubepods.slice/kubepods-pod_ab_cd.slice", SD.podPath("kubepods-pod_ab_cd.slice"));
        assertEquals("/kubepods.slice", SD.podPath("kubepods.slice"));
        assertEquals("/", CgroupDriver.expandSlice("-.slice"));
        assertEquals("/kubepods.slice/kubepods-besteffort.slice",
                SD.podPath("/kubepods.slice/kubepods-besteffort.slice"), "an already expanded path is accepted");
    }

    @Test
    void malformedSlicesAreInvalid() {
        assertInvalid(() -> SD.podPath("kubepods"));
        assertInvalid(() -> SD.podPath("kubepods--pod.slice"));
        assertInvalid(() -> SD.podPath("-kubepods.slice"));
        assertInvalid(() -> SD.podPath("kubepods-.slice"));
        assertInvalid(() -> SD.podPath("a/b.slice"));
        assertInvalid(() -> SD.podPath("/kubepods.slice/other-pod.slice"));
    }

    @Test
    void systemdContainersAreSlicePrefixNameTriples() {
        String pod = SD.podPath("kubepods-burstable-pod1234.slice");
        assertEquals("kubepods-burstable-pod1234.slice:berth:abcdef", SD.containerPath(pod, "abcdef"));
        assertEquals("kubepods-burstable-pod1234.slice:berth:abcdef", SD.containerPath("kubepods-burstable-pod1234.slice", "abcdef"));
        assertEquals("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/berth-abcdef.scope",
                SD.resolve("kubepods-burstable-pod1234.slice:berth:abcdef"));
        assertEquals(pod, SD.resolve("kubepods-burstable-pod1234.slice"));
        assertEquals(pod, SD.resolve(pod));
        assertInvalid(() -> SD.resolve("kubepods.slice:berth"));
        assertInvalid(() -> SD.resolve("kubepods.slice:berth:a/b"));
    }

    @Test
    void driverNames() {
        assertEquals(FS, CgroupDriver.of("cgroupfs"));
        assertEquals(SD, CgroupDriver.of("systemd"));
        assertInvalid(() -> CgroupDriver.of("cgroup"));
    }
}
