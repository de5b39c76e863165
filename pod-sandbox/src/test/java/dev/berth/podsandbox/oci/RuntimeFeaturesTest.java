package dev.berth.podsandbox.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RuntimeFeaturesTest {
    private static final String RUNC_LIKE = """
            {"ociVersionMin":"1.0.0","mountOptions":["bind","ro","rro","rprivate"],
             "linux":{"namespaces":["cgroup","ipc","mount","network","pid","user","uts"]}}""";

    @Test
    void aRuntimeListingRroOnAKernelWithMountSetattrSupportsRecursiveReadOnlyMounts() {
        RuntimeFeatures f = RuntimeFeatures.parse(RUNC_LIKE, "6.1.0-13-amd64\n", "63000\n");
        assertTrue(f.recursiveReadOnlyMounts());
        assertTrue(f.userNamespaces());
        assertEquals(Set.of("bind", "ro", "rro", "rprivate"), f.mountOptions());
    }

    @Test
    void aKernelOlderThanMountSetattrHasNoRecursiveReadOnlyMounts() {
        assertFalse(RuntimeFeatures.parse(RUNC_LIKE, "5.11.22", "100").recursiveReadOnlyMounts());
        assertTrue(RuntimeFeatures.parse(RUNC_LIKE, "5.12.0", "100").recursiveReadOnlyMounts());
        assertFalse(RuntimeFeatures.parse(RUNC_LIKE, "4.19.0", "100").recursiveReadOnlyMounts());
        assertFalse(RuntimeFeatures.parse(RUNC_LIKE, "", "100").recursiveReadOnlyMounts());
    }

    @Test
    void userNamespacesNeedTheRuntimesUserNamespaceAndAKernelThatAllowsThem() {
        assertFalse(RuntimeFeatures.parse(RUNC_LIKE, "6.1.0", "0").userNamespaces());
        assertFalse(RuntimeFeatures.parse(RUNC_LIKE, "6.1.0", "").userNamespaces());
        assertFalse(RuntimeFeatures.parse("{\"linux\":{\"namespaces\":[\"mount\",\"pid\"]}}", "6.1.0", "10").userNamespaces());
    }

    @Test
    void aRuntimeWithoutAFeaturesDocumentSupportsNothingOptional() {
        for (String doc : new String[] {"", "unknown command features", "{\"mountOptions\": 3}", "[1,2]"}) {
            RuntimeFeatures f = RuntimeFeatures.parse(doc, "6.18.0", "100");
            assertFalse(f.recursiveReadOnlyMounts(), doc);
            assertFalse(f.userNamespaces(), doc);
            assertEquals(Set.of(), f.mountOptions(), doc);
        }
    }

    @Test
    void aBinaryIsAskedOnceAndItsFailureMeansNoFeatures(@TempDir Path dir) throws Exception {
        Path count = dir.resolve("count");
        Path fake = dir.resolve("fake-runtime");
        Files.writeString(fake, "#!/bin/sh\necho x >> " + count + "\n[ \"$1\" = features ] || exit 2\necho 'unknown command features' >&2\nexit 1\n");
        fake.toFile().setExecutable(true);
        RuntimeFeatures first = RuntimeFeatures.probe(fake.toString());
        assertSame(first, RuntimeFeatures.probe(fake.toString()));
        assertEquals(1, Files.readAllLines(count).size());
        assertFalse(first.recursiveReadOnlyMounts());
        assertEquals(Set.of(), first.mountOptions());
        assertFalse(RuntimeFeatures.probe(dir.resolve("missing").toString()).recursiveReadOnlyMounts());
    }

    @Test
    void aBinaryPrintingItsFeaturesIsRead(@TempDir Path dir) throws Exception {
        Path fake = dir.resolve("fake-runc");
        Files.writeString(fake, "#!/bin/sh\ncat <<'END'\n" + RUNC_LIKE + "\nEND\n");
        fake.toFile().setExecutable(true);
        RuntimeFeatures f = RuntimeFeatures.probe(fake.toString());
        assertTrue(f.mountOptions().contains("rro"));
        assertEquals(RuntimeFeatures.kernelAtLeast(Files.readString(Path.of("/proc/sys/kernel/osrelease")), 5, 12),
                f.recursiveReadOnlyMounts());
    }

    @Test
    void onlyAKernelWithoutTheFeatureOrADocumentThatLacksItRulesAFeatureOutBeforeTrying() {
        RuntimeFeatures runc = RuntimeFeatures.parse(RUNC_LIKE, "6.1.0", "100");
        assertEquals(Optional.empty(), runc.recursiveReadOnlyRuledOut());
        assertEquals(Optional.empty(), runc.userNamespacesRuledOut());
        // crun 1.8 has no features command: only a container can tell
        RuntimeFeatures silent = RuntimeFeatures.parse("", "6.1.0", "100");
        assertEquals(Optional.empty(), silent.recursiveReadOnlyRuledOut());
        assertEquals(Optional.empty(), silent.userNamespacesRuledOut());
        RuntimeFeatures lacking = RuntimeFeatures.parse("{\"mountOptions\":[\"ro\"],\"linux\":{\"namespaces\":[\"pid\"]}}",
                "6.1.0", "100");
        assertTrue(lacking.recursiveReadOnlyRuledOut().orElseThrow().contains("does not list the rro"));
        assertTrue(lacking.userNamespacesRuledOut().orElseThrow().contains("does not list the user namespace"));
        RuntimeFeatures oldKernel = RuntimeFeatures.parse(RUNC_LIKE, "5.10.0", "0");
        assertTrue(oldKernel.recursiveReadOnlyRuledOut().orElseThrow().contains("mount_setattr"));
        assertTrue(oldKernel.userNamespacesRuledOut().orElseThrow().contains("max_user_namespaces"));
    }
}
