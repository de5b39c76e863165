package dev.berth.criserver.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.cri.v1.IDMapping;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.UserNamespace;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code userns_options} of a pod: what becomes a user namespace, and each refusal as INVALID_ARGUMENT. */
class UserNamespaceTranslationTest {
    static IDMapping map(int container, int host, int length) {
        return IDMapping.newBuilder().setContainerId(container).setHostId(host).setLength(length).build();
    }

    static NamespaceOption options(NamespaceMode mode, List<IDMapping> uids, List<IDMapping> gids) {
        return NamespaceOption.newBuilder().setUsernsOptions(UserNamespace.newBuilder().setMode(mode)
                .addAllUids(uids).addAllGids(gids)).build();
    }

    static String refused(NamespaceOption o) {
        BerthException e = assertThrows(BerthException.class, () -> SandboxRpcs.userNamespace(o));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        return e.getMessage();
    }

    @Test
    void nodeOrNoOptionsIsTheHostsAndPodWithOneMappingEachIsThePodsOwn() {
        assertEquals(SandboxConfig.UserNamespace.NODE, SandboxRpcs.userNamespace(NamespaceOption.getDefaultInstance()));
        assertEquals(SandboxConfig.UserNamespace.NODE, SandboxRpcs.userNamespace(options(NamespaceMode.NODE, List.of(), List.of())));
        SandboxConfig.UserNamespace u = SandboxRpcs.userNamespace(options(NamespaceMode.POD, List.of(map(0, 65536, 65536)),
                List.of(map(0, 131072, 65536))));
        assertEquals(SandboxConfig.NamespaceMode.POD, u.mode());
        assertEquals(List.of(new ContainerConfig.IdMapping(0, 65536, 65536)), u.uids());
        assertEquals(List.of(new ContainerConfig.IdMapping(0, 131072, 65536)), u.gids());
        assertEquals(65536 + 1000, u.hostUid(1000));
        assertEquals(-1, u.hostUid(65536));
        // and reported back as asked
        assertEquals(options(NamespaceMode.POD, List.of(map(0, 65536, 65536)), List.of(map(0, 131072, 65536))).getUsernsOptions(),
                SandboxRpcs.usernsOptions(u));
        // a host id up to the last 32-bit id
        SandboxRpcs.userNamespace(options(NamespaceMode.POD, List.of(map(0, (int) 4294901760L, 65536)), List.of(map(0, 1, 1))));
    }

    @Test
    void everyOtherUserNamespaceIsInvalidArgument() {
        List<IDMapping> one = List.of(map(0, 65536, 65536));
        assertTrue(refused(options(NamespaceMode.CONTAINER, one, one)).contains("CONTAINER"));
        assertTrue(refused(options(NamespaceMode.TARGET, one, one)).contains("TARGET"));
        assertTrue(refused(options(NamespaceMode.POD, List.of(), one)).contains("exactly one uid mapping, got 0"));
        assertTrue(refused(options(NamespaceMode.POD, one, List.of())).contains("exactly one gid mapping, got 0"));
        assertTrue(refused(options(NamespaceMode.POD, List.of(map(0, 65536, 1000), map(1000, 70000, 1000)), one))
                .contains("exactly one uid mapping, got 2"));
        assertTrue(refused(options(NamespaceMode.POD, List.of(map(1, 65536, 65536)), one)).contains("must map container id 0"));
        assertTrue(refused(options(NamespaceMode.POD, one, List.of(map(0, 65536, 0)))).contains("length 0"));
        assertTrue(refused(options(NamespaceMode.POD, List.of(map(0, 0, 65536)), one)).contains("root in the pod would be root on the host"));
        assertTrue(refused(options(NamespaceMode.POD, List.of(map(0, (int) 4294901761L, 65536)), one)).contains("beyond 32 bits"));
        assertTrue(refused(options(NamespaceMode.NODE, one, List.of())).contains("NODE takes no"));
    }
}
