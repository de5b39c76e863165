package dev.berth.podsandbox.container.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The OCI options of CRI mounts beyond a plain bind: recursive read-only mounts. */
class CriMountOptionsTest {
    @TempDir
    Path tmp;

    private static ContainerConfig.Mount rro(Path host, boolean readonly, ContainerConfig.Propagation p) {
        return new ContainerConfig.Mount("/host", host.toString(), readonly, p, true, "", "", List.of(), List.of());
    }

    private static OciSpec.Mount only(List<ContainerConfig.Mount> mounts) {
        OciSpec spec = new OciSpec();
        SpecOptions.criMounts(mounts).apply(spec);
        return spec.mounts.stream().filter(m -> m.destination().equals("/host")).findFirst().orElseThrow();
    }

    @Test
    void aRecursiveReadOnlyMountGetsRro() throws Exception {
        Path host = Files.createDirectories(tmp.resolve("host"));
        assertEquals(List.of("rbind", "rprivate", "ro", "rro"), only(List.of(rro(host, true, ContainerConfig.Propagation.PRIVATE))).options());
        assertEquals(List.of("rbind", "rprivate", "ro"),
                only(List.of(new ContainerConfig.Mount("/host", host.toString(), true, null))).options());
    }

    @Test
    void aRecursiveReadOnlyMountMustBeReadOnlyAndPrivate() throws Exception {
        Path host = Files.createDirectories(tmp.resolve("host"));
        BerthException rw = assertThrows(BerthException.class, () -> only(List.of(rro(host, false, ContainerConfig.Propagation.PRIVATE))));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, rw.kind());
        assertTrue(rw.getMessage().contains("must be readonly"), rw.getMessage());
        for (ContainerConfig.Propagation p : List.of(ContainerConfig.Propagation.HOST_TO_CONTAINER, ContainerConfig.Propagation.BIDIRECTIONAL)) {
            BerthException e = assertThrows(BerthException.class, () -> only(List.of(rro(host, true, p))));
            assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
            assertTrue(e.getMessage().contains("requires private propagation"), e.getMessage());
        }
    }

    @Test
    void aHandlerIsAskedOnlyForARecursiveReadOnlyMountAndRefusesItWhenItCannot() throws Exception {
        Path host = Files.createDirectories(tmp.resolve("host"));
        AtomicInteger asked = new AtomicInteger();
        SpecOptions.requireRecursiveReadOnly(List.of(new ContainerConfig.Mount("/host", host.toString(), true, null)), "crun",
                () -> asked.incrementAndGet() > 100);
        assertEquals(0, asked.get());
        SpecOptions.requireRecursiveReadOnly(List.of(rro(host, true, ContainerConfig.Propagation.PRIVATE)), "runc", () -> true);
        BerthException e = assertThrows(BerthException.class, () -> SpecOptions.requireRecursiveReadOnly(
                List.of(rro(host, true, ContainerConfig.Propagation.PRIVATE)), "crun", () -> false));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        assertTrue(e.getMessage().contains("not supported by runtime handler crun"), e.getMessage());
    }
}
