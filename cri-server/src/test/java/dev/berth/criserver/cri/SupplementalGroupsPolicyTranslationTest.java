package dev.berth.criserver.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.cri.v1.LinuxContainerSecurityContext;
import dev.berth.cri.v1.SupplementalGroupsPolicy;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import org.junit.jupiter.api.Test;

/** The CRI supplemental_groups_policy in berth's container config, and in records written before it. */
class SupplementalGroupsPolicyTranslationTest {
    @Test
    void strictAndMergeAreCarriedAndMergeIsTheDefault() {
        assertEquals(ContainerConfig.SupplementalGroupsPolicy.STRICT, ContainerTranslation.security(
                LinuxContainerSecurityContext.newBuilder().setSupplementalGroupsPolicy(SupplementalGroupsPolicy.Strict)
                        .build()).supplementalGroupsPolicy());
        assertEquals(ContainerConfig.SupplementalGroupsPolicy.MERGE, ContainerTranslation.security(
                LinuxContainerSecurityContext.newBuilder().setSupplementalGroupsPolicy(SupplementalGroupsPolicy.Merge)
                        .build()).supplementalGroupsPolicy());
        assertEquals(ContainerConfig.SupplementalGroupsPolicy.MERGE, ContainerTranslation.security(
                LinuxContainerSecurityContext.getDefaultInstance()).supplementalGroupsPolicy());
    }

    @Test
    void anUnknownPolicyIsInvalid() {
        BerthException e = assertThrows(BerthException.class, () -> ContainerTranslation.security(
                LinuxContainerSecurityContext.newBuilder().setSupplementalGroupsPolicyValue(7).build()));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
    }

    @Test
    void theRecordKeepsThePolicyAndAnOlderRecordReadsAsMerge() throws Exception {
        ContainerConfig.Security strict = ContainerConfig.Security.defaults()
                .withSupplementalGroupsPolicy(ContainerConfig.SupplementalGroupsPolicy.STRICT);
        String json = Json.write(strict);
        assertEquals(strict, Json.mapper().readValue(json, ContainerConfig.Security.class));
        String older = json.replaceAll(",?\"supplementalGroupsPolicy\":\"STRICT\"", "");
        assertEquals(ContainerConfig.SupplementalGroupsPolicy.MERGE,
                Json.mapper().readValue(older, ContainerConfig.Security.class).supplementalGroupsPolicy(), older);
    }
}
