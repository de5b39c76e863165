package dev.berth.podsandbox.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The container records on disk and in memory; no root needed. */
class ContainerStoreTest {
    @TempDir
    Path dir;

    @Test
    void recordsSurviveANewStoreAndUnreadableOnesAreSkipped() throws Exception {
        ContainerStore store = new ContainerStore(dir);
        ContainerRecord a = SandboxContextsTest.record("a".repeat(64), ContainerState.RUNNING, 10);
        store.add(a);
        store.persist(a);
        Files.createDirectories(dir.resolve("b".repeat(64)));
        Files.writeString(dir.resolve("b".repeat(64)).resolve("record.json"), "{not json");
        List<ContainerRecord> loaded = new ContainerStore(dir).load();
        assertEquals(List.of(a), loaded);
    }

    @Test
    void aNameAndAttemptAreUniqueInASandbox() {
        ContainerStore store = new ContainerStore(dir);
        ContainerRecord a = SandboxContextsTest.record("a".repeat(64), ContainerState.RUNNING, 10);
        store.add(a);
        assertEquals(BerthException.Kind.ALREADY_EXISTS, assertThrows(BerthException.class, () -> store.add(a)).kind());
        ContainerRecord sameName = new ContainerRecord("b".repeat(64), a.name(), a.attempt(), a.sandboxId(), a.handler(),
                a.imageRef(), a.config(), a.image(), a.rootfs(), a.bundle(), a.logPath(), a.cgroupsPath(), a.state(),
                false, 1, 0, 0, 0, "", "", 0, 0, 0, null, null);
        BerthException e = assertThrows(BerthException.class, () -> store.add(sameName));
        assertEquals(BerthException.Kind.ALREADY_EXISTS, e.kind());
        assertTrue(e.getMessage().contains(a.id()), e.getMessage());
    }

    @Test
    void anUpdateIsOnDiskAndAnUnchangedRecordIsNotWritten() throws Exception {
        ContainerStore store = new ContainerStore(dir);
        ContainerRecord a = SandboxContextsTest.record("a".repeat(64), ContainerState.RUNNING, 10);
        store.put(a);
        ContainerStore.Change same = store.update(a.id(), r -> r);
        assertSame(same.before(), same.after());
        ContainerStore.Change c = store.update(a.id(), r -> r.exited(5, 3, ContainerRecord.REASON_ERROR, ""));
        assertEquals(ContainerState.RUNNING, c.before().state());
        assertEquals(ContainerState.EXITED, c.after().state());
        assertEquals(List.of(c.after()), new ContainerStore(dir).load());
        assertEquals(BerthException.Kind.NOT_FOUND,
                assertThrows(BerthException.class, () -> store.update("c".repeat(64), r -> r)).kind());
    }

    @Test
    void deleteRemovesTheRecordFromDisk() throws Exception {
        ContainerStore store = new ContainerStore(dir);
        ContainerRecord a = SandboxContextsTest.record("a".repeat(64), ContainerState.EXITED, 10);
        store.put(a);
        store.forget(a.id());
        store.delete(a.id());
        assertFalse(Files.exists(dir.resolve(a.id())));
        assertTrue(store.find(a.id()).isEmpty());
        assertEquals(List.of(), new ContainerStore(dir).load());
    }
}
