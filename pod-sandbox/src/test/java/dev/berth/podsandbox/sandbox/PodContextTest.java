package dev.berth.podsandbox.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.berth.common.Json;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The verbose PodSandboxStatus info is the pod context, key for key, in its order. */
class PodContextTest {
    @Test
    void theVerboseInfoListsTheContextInItsOrder() {
        SandboxConfig config = new SandboxConfig(new SandboxConfig.Metadata("web", "uid", "default", 0), "web", "",
                SandboxConfig.Dns.NONE, List.of(), Map.of(), Map.of(), "", Map.of(), null, null, null, 0, "");
        PodContext pod = new PodContext("p1", SandboxState.READY, 42L, "/run/p1/ns/net", "/run/p1/ns/ipc", "/run/p1/ns/uts",
                "/kubepods/p1", "runc", "/usr/bin/runc", "web", "/run/p1/shm", "/run/p1/hostname", "/run/p1/hosts",
                "/run/p1/resolv.conf", config);
        Map<String, Object> info = pod.verboseInfo();
        assertEquals(List.of("pid", "netnsPath", "ipcnsPath", "utsnsPath", "cgroupPath", "runtimeHandler", "runtimeBinary",
                "hostname", "shmPath", "hostnamePath", "hostsPath", "resolvConfPath", "config"), List.copyOf(info.keySet()));
        assertEquals(42L, info.get("pid"));
        assertEquals(config, info.get("config"));
        String json = Json.write(info);
        assertEquals("{\"pid\":42,\"netnsPath\":\"/run/p1/ns/net\",\"ipcnsPath\":\"/run/p1/ns/ipc\","
                + "\"utsnsPath\":\"/run/p1/ns/uts\",\"cgroupPath\":\"/kubepods/p1\",\"runtimeHandler\":\"runc\","
                + "\"runtimeBinary\":\"/usr/bin/runc\",\"hostname\":\"web\",\"shmPath\":\"/run/p1/shm\","
                + "\"hostnamePath\":\"/run/p1/hostname\",\"hostsPath\":\"/run/p1/hosts\","
                + "\"resolvConfPath\":\"/run/p1/resolv.conf\",\"config\":" + Json.write(config) + "}", json);
    }
}
