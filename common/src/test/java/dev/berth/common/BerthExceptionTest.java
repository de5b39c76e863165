package dev.berth.common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class BerthExceptionTest {
    @Test
    void aFullFilesystemIsResourceExhaustedNamingTheStore() {
        IOException enospc = new IOException("No space left on device");
        BerthException e = BerthException.fromIo("cannot write the record of sandbox x", Path.of("/var/lib/berth/sandboxes"), enospc);
        assertEquals(BerthException.Kind.RESOURCE_EXHAUSTED, e.kind());
        assertEquals("cannot write the record of sandbox x: No space left on device (the filesystem of /var/lib/berth/sandboxes is full)",
                e.getMessage());
        assertSame(enospc, e.getCause());
    }

    @Test
    void aFileSystemExceptionNamesItsFileAndAQuotaCountsAsFull() {
        BerthException e = BerthException.fromIo("cannot create a directory",
                new FileSystemException("/root/x/.a.json.tmp-1", null, "Disk quota exceeded"));
        assertEquals(BerthException.Kind.RESOURCE_EXHAUSTED, e.kind());
        assertTrue(e.getMessage().endsWith("Disk quota exceeded (the filesystem of /root/x/.a.json.tmp-1 is full)"), e.getMessage());
    }

    @Test
    void otherIoErrorsStayInternalAndCausesAreSearched() {
        BerthException e = BerthException.fromIo("cannot write", new IOException("Input/output error"));
        assertEquals(BerthException.Kind.INTERNAL, e.kind());
        assertEquals("cannot write", e.getMessage());
        assertTrue(BerthException.isNoSpace(new RuntimeException(new UncheckedIOException(new IOException("No space left on device")))));
        assertFalse(BerthException.isNoSpace(new RuntimeException("No space left on device"))); // only I/O errors
        assertFalse(BerthException.isNoSpace(new IOException((String) null)));
    }
}
