package dev.berth.podsandbox.container;

import static dev.berth.podsandbox.container.ContainerFixture.awaitExit;
import static dev.berth.podsandbox.container.ContainerFixture.logLines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.host.IdmappedMounts;
import dev.berth.host.Libc;
import dev.berth.host.LinuxMounts;
import dev.berth.host.MountTable;
import dev.berth.host.UserNamespaces;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * CRI mounts with uid/gid mappings, with runc 1.1 (which cannot idmap): berth stages an
 * idmapped bind and the container binds that. The containers here run in the host's user
 * namespace, so a file of host root seen through the mapping 0:100000:65536 is owned by
 * uid 100000 (in a pod user namespace with that mapping it is the pod's root).
 */
@Tag("root")
class IdmappedMountStagingTest {
    private static final ContainerConfig.IdMapping POD = new ContainerConfig.IdMapping(0, 100000, 65536);

    ContainerFixture fx;
    ContainerManager m;
    Path volume;

    @BeforeEach
    void setUp() throws Exception {
        fx = new ContainerFixture();
        m = fx.manager();
        volume = Files.createDirectories(fx.dir.resolve("volume"));
        Files.writeString(volume.resolve("rootfile"), "x"); // host root's
        Path other = Files.writeString(volume.resolve("podfile"), "y");
        Libc.c().lchown(other.toString(), 100000, 100000);
    }

    @AfterEach
    void tearDown() throws Exception {
        try {
            if (Files.isDirectory(staging())) { // a failed test's mounts: the fixture's clean-up must not walk into them
                LinuxMounts.INSTANCE.unmountAllUnder(staging());
            }
        } finally {
            fx.close();
        }
    }

    private ContainerConfig.Mount mount(List<ContainerConfig.IdMapping> uids, List<ContainerConfig.IdMapping> gids) {
        return new ContainerConfig.Mount("/data", volume.toString(), false, null, false, "", "", uids, gids);
    }

    private ContainerRecord lsData(String name, ContainerConfig.Mount mount) {
        ContainerRecord c = m.create(ContainerManager.newId(), fx.request(fx.config(name)
                .command("sh", "-c",
                        "ls -ln /data | grep -v '^total' | while read p l u g rest; do echo \"$u $g ${rest##* }\"; done").mount(mount).build()));
        m.start(c.id());
        assertEquals(0, awaitExit(m, c.id()).exitCode());
        return c;
    }

    private Path staging() {
        return fx.runDir.resolve("idmapped");
    }

    @Test
    void theContainerSeesTheMountThroughTheMappingAndRemovalLeavesNothingMounted() throws Exception {
        ContainerRecord c = lsData("mapped", mount(List.of(POD), List.of(POD)));
        assertEquals(List.of("65534 65534 podfile", "100000 100000 rootfile"), logLines(fx.logDir.resolve("mapped.log"), "stdout"));
        assertEquals(1, MountTable.mountCountUnder(staging()), "staged until removal");
        assertEquals(0, Files.getAttribute(volume.resolve("rootfile"), "unix:uid"), "the host directory is unchanged");

        m.remove(c.id());
        assertEquals(0, MountTable.mountCountUnder(fx.dir));
        assertFalse(Files.exists(staging().resolve(c.id())));
        assertTrue(Files.exists(volume.resolve("rootfile")), "the volume's files stay");
        assertEquals(List.of(), fx.leftovers());
    }

    @Test
    void aPodsPinnedUserNamespaceIsUsedWhenItMapsTheSame() throws Exception {
        Path pin = Files.createFile(fx.dir.resolve("pod-userns"));
        // a namespace mapping differently than the mount asks, so the output tells which one served
        UserNamespaces.createPinned(pin, List.of(new UserNamespaces.Mapping(0, 200000, 65536)),
                List.of(new UserNamespaces.Mapping(0, 200000, 65536)));
        try {
            m.idmappedMounts().usePodUserns((sandbox, uid, gid) -> uid.equals(POD) && gid.equals(POD) ? Optional.of(pin) : Optional.empty());
            ContainerRecord c = lsData("pod", mount(List.of(POD), List.of(POD)));
            assertEquals(List.of("65534 65534 podfile", "200000 200000 rootfile"), logLines(fx.logDir.resolve("pod.log"), "stdout"));
            m.remove(c.id());
        } finally {
            LinuxMounts.INSTANCE.unmount(pin);
        }
        assertEquals(List.of(), fx.leftovers());
    }

    @Test
    void refusalsAreInvalidArgumentAndLeaveNothing() throws Exception {
        ContainerConfig.IdMapping more = new ContainerConfig.IdMapping(65536, 300000, 10);
        for (ContainerConfig.Mount bad : List.of(
                mount(List.of(POD), List.of()),
                mount(List.of(), List.of(POD)),
                mount(List.of(POD, more), List.of(POD, more)),
                mount(List.of(new ContainerConfig.IdMapping(0, 100000, 0)), List.of(POD)),
                mount(List.of(new ContainerConfig.IdMapping(0, 4294967295L, 2)), List.of(POD)),
                new ContainerConfig.Mount("/data", "/proc", false, null, false, "", "", List.of(POD), List.of(POD)))) {
            BerthException e = assertThrows(BerthException.class, () -> m.create(ContainerManager.newId(),
                    fx.request(fx.config("bad").command("true").mount(bad).build())));
            assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains("/data"), e.getMessage());
        }
        BerthException proc = assertThrows(BerthException.class, () -> m.create(ContainerManager.newId(), fx.request(fx.config("p")
                .command("true").mount(new ContainerConfig.Mount("/data", "/proc", false, null, false, "", "", List.of(POD),
                        List.of(POD))).build())));
        assertTrue(proc.getMessage().contains("(proc on /proc) does not support idmapped mounts"), proc.getMessage());
        assertEquals(List.of(), m.list());
        assertEquals(List.of(), fx.leftovers());
    }

    @Test
    void aCreateThatFailsHalfWayUnmountsWhatItStaged() throws Exception {
        BerthException e = assertThrows(BerthException.class, () -> m.create(ContainerManager.newId(), fx.request(fx.config("nobin")
                .command("/bin/does-not-exist").mount(mount(List.of(POD), List.of(POD))).build())));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind(), e.getMessage());
        assertEquals(0, MountTable.mountCountUnder(fx.dir));
        try (var s = Files.list(staging())) {
            assertEquals(0, s.count());
        }
        assertEquals(List.of(), fx.leftovers());
    }

    @Test
    void afterACrashTheNextManagerUnmountsWhatNoRecordClaimsAndKeepsTheRest() throws Exception {
        ContainerRecord kept = m.create(ContainerManager.newId(), fx.request(fx.config("kept").command("sleep", "1000")
                .mount(mount(List.of(POD), List.of(POD))).build()));
        ContainerRecord half = m.create(ContainerManager.newId(), fx.request(fx.config("half").command("sleep", "1000")
                .mount(mount(List.of(POD), List.of(POD))).build()));
        // berth died: one create was not finished, and one staging has no record at all
        Path record = fx.stateDir.resolve("containers").resolve(half.id()).resolve("record.json");
        com.fasterxml.jackson.databind.node.ObjectNode json = (com.fasterxml.jackson.databind.node.ObjectNode)
                dev.berth.common.Json.mapper().readTree(record.toFile());
        json.put("creating", true);
        Files.writeString(record, json.toString());
        Path orphan = Files.createDirectories(staging().resolve("a".repeat(64)).resolve("0"));
        try (UserNamespaces.Handle ns = UserNamespaces.create(List.of(new UserNamespaces.Mapping(0, 100000, 65536)),
                List.of(new UserNamespaces.Mapping(0, 100000, 65536)))) {
            IdmappedMounts.bind(volume, orphan, ns.path(), true);
        }
        assertEquals(3, MountTable.mountCountUnder(staging()));

        ContainerManager again = fx.manager();
        assertEquals(List.of(kept.id()), again.list().stream().map(ContainerRecord::id).toList());
        assertEquals(List.of(staging().resolve(kept.id()).resolve("0")), MountTable.mountPointsUnder(staging()));
        assertFalse(Files.exists(orphan.getParent()));
        assertTrue(Files.exists(volume.resolve("rootfile")));
        again.remove(kept.id());
        assertEquals(0, MountTable.mountCountUnder(fx.dir));
        assertEquals(List.of(), fx.leftovers());
    }
}
