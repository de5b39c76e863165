package dev.berth.podsandbox.namespaces;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.berth.common.BerthException;
import dev.berth.host.HostNamespaces.Kind;
import dev.berth.host.MountTable;
import dev.berth.host.testing.FakeMounts;
import dev.berth.host.testing.FakeNamespaces;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link NamespacePins} against in-memory mounts and namespaces: no root needed. */
class NamespacePinsSeamTest {
    @TempDir
    Path dir;

    @Test
    void pinsEachNamespaceAndTheShmAndReleasesThemAll() {
        FakeMounts mounts = new FakeMounts();
        FakeNamespaces namespaces = new FakeNamespaces(mounts);
        NamespacePins pins = new NamespacePins(mounts, namespaces);
        Path ns = dir.resolve("ns");
        Path shm = dir.resolve("shm");
        PodNamespaces made = pins.create(ns, true, true, true, "pod-a", new NamespacePins.Shm(shm, 65536));
        assertEquals(List.of(ns.resolve("net"), ns.resolve("ipc"), ns.resolve("uts")), namespaces.pinned());
        assertEquals(ns.resolve("net"), made.net());
        assertEquals("pod-a", namespaces.made().stream().filter(m -> m.kind() == Kind.UTS).findFirst().orElseThrow().hostname());
        assertEquals("tmpfs", mounts.containing(shm).fsType());
        mounts.unmountAllUnder(shm);
        pins.release(ns);
        assertEquals(List.of(), mounts.mounted());
        assertFalse(Files.exists(ns));
    }

    @Test
    void aSharedHolderIsMadePrivateFirst() {
        FakeMounts mounts = new FakeMounts();
        mounts.add(new MountTable.Mount(dir, "tmpfs", "run", "shared:7"));
        NamespacePins pins = new NamespacePins(mounts, new FakeNamespaces(mounts));
        Path ns = dir.resolve("ns");
        pins.create(ns, true, false, false, null, null);
        assertEquals(List.of("tmpfs", "bind", "nsfs"), mounts.mounted().stream().map(MountTable.Mount::fsType).toList());
        pins.release(ns);
        assertEquals(List.of(dir), mounts.mountPointsUnder(dir), "only the mount berth did not make is left");
    }

    @Test
    void aFailureReleasesWhatWasMounted() {
        FakeMounts mounts = new FakeMounts();
        FakeNamespaces namespaces = new FakeNamespaces(mounts);
        NamespacePins pins = new NamespacePins(mounts, namespaces);
        mounts.failNext("tmpfs");
        Path ns = dir.resolve("ns");
        assertThrows(BerthException.class,
                () -> pins.create(ns, true, true, false, null, new NamespacePins.Shm(dir.resolve("shm"), 65536)));
        assertEquals(List.of(), mounts.mounted());
        assertFalse(Files.exists(ns));
        namespaces.failNext();
        assertThrows(BerthException.class, () -> pins.create(ns, true, false, false, null, null));
        assertEquals(List.of(), mounts.mounted());
        assertFalse(Files.exists(ns));
    }
}
