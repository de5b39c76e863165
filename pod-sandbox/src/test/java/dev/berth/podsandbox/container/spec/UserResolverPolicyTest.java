package dev.berth.podsandbox.container.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.berth.podsandbox.container.spec.ContainerConfig.SupplementalGroupsPolicy;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * SupplementalGroupsPolicy: MERGE adds the image's groups that list the user to the primary gid
 * and the CRI supplemental groups; STRICT keeps only the latter two.
 */
class UserResolverPolicyTest {
    final UserResolver resolver = new UserResolver(
            List.of("root:x:0:0::/root:/bin/sh", "app:x:1000:1001::/home/app:/bin/sh"),
            List.of("root:x:0:", "appgrp:x:1001:", "extra:x:2000:app", "wheel:x:10:root,app", "named:x:3000:"));

    static ContainerConfig.Security security(Long uid, String username, Long gid, List<Long> supplemental,
            SupplementalGroupsPolicy policy) {
        return new ContainerConfig.Security(List.of(), List.of(), false, uid, username, gid, supplemental, false, false,
                null, null, null, "", policy);
    }

    @Test
    void mergeIsTheDefaultAndAddsTheImagesGroupsOfTheUser() {
        ContainerConfig.Security old = new ContainerConfig.Security(List.of(), List.of(), false, 1000L, "", null,
                List.of(5L), false, false, null, null, null, "");
        assertEquals(SupplementalGroupsPolicy.MERGE, old.supplementalGroupsPolicy());
        assertEquals(SupplementalGroupsPolicy.MERGE, ContainerConfig.Security.defaults().supplementalGroupsPolicy());
        assertEquals(List.of(1001L, 2000L, 10L, 5L), resolver.resolve(old, "").additionalGids());
        assertEquals(List.of(1001L, 2000L, 10L, 5L),
                resolver.resolve(security(1000L, "", null, List.of(5L), SupplementalGroupsPolicy.MERGE), "")
                        .additionalGids());
    }

    @Test
    void strictTakesOnlyThePrimaryGidAndTheCriGroupsWhicheverWayTheUserIsNamed() {
        UserResolver.Identity byUid = resolver.resolve(security(1000L, "", null, List.of(5L),
                SupplementalGroupsPolicy.STRICT), "");
        assertEquals(1000, byUid.uid());
        assertEquals(1001, byUid.gid());
        assertEquals(List.of(1001L, 5L), byUid.additionalGids());

        UserResolver.Identity byName = resolver.resolve(security(null, "app", 4000L, List.of(),
                SupplementalGroupsPolicy.STRICT), "");
        assertEquals(List.of(4000L), byName.additionalGids());

        UserResolver.Identity imageUser = resolver.resolve(security(null, "", null, List.of(7L, 8L),
                SupplementalGroupsPolicy.STRICT), "app");
        assertEquals(List.of(1001L, 7L, 8L), imageUser.additionalGids());

        UserResolver.Identity root = resolver.resolve(ContainerConfig.Security.defaults()
                .withSupplementalGroupsPolicy(SupplementalGroupsPolicy.STRICT), "");
        assertEquals(List.of(0L), root.additionalGids(), "root's wheel from the image is left out");
        assertEquals(List.of(0L, 10L), resolver.resolve(ContainerConfig.Security.defaults(), "").additionalGids());
    }

    @Test
    void strictStillResolvesTheGroupAnImageUserNames() {
        UserResolver.Identity id = resolver.resolve(security(null, "", null, List.of(),
                SupplementalGroupsPolicy.STRICT), "app:named");
        assertEquals(3000, id.gid());
        assertEquals(List.of(3000L), id.additionalGids());
    }
}
