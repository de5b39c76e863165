package dev.berth.cli.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The agent's cgroup keys: cgroups per QoS class (on by default) under a cgroup root ("/" by default). */
class AgentCgroupConfigTest {
    private static BerthConfig.Agent agent(String toml) {
        return ConfigLoader.parse(toml, BerthConfig.Overrides.none(), "test.toml").agent();
    }

    @Test
    void cgroupsPerQosUnderTheRootByDefault() {
        BerthConfig.Agent a = agent("");
        assertTrue(a.cgroupsPerQos());
        assertEquals("/", a.cgroupRoot());
    }

    @Test
    void bothKeysAreReadAndSurviveTheFlags() {
        BerthConfig.Agent a = agent("[agent]\ncgroups_per_qos = false\ncgroup_root = \"/berth/node-1\"\n")
                .withFlags("n1", Path.of("/etc/m"), null, null);
        assertFalse(a.cgroupsPerQos());
        assertEquals("/berth/node-1", a.cgroupRoot());
    }

    @Test
    void theRootMustBeAnAbsoluteCgroupPath() {
        for (String bad : new String[] {"", "kubelet", "/a/../b", "/a/./b", "/a b", "/a//b", "/a/"}) {
            String message = assertThrows(ConfigException.class, () -> agent("[agent]\ncgroup_root = \"" + bad + "\"\n")).getMessage();
            assertTrue(message.contains("'agent.cgroup_root' must be an absolute cgroup path"), bad + ": " + message);
        }
    }
}
