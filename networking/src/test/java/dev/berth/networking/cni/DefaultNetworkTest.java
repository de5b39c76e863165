package dev.berth.networking.cni;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.Json;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The default network berth writes is the one documented in manifests/cni. */
class DefaultNetworkTest {
    @Test
    void theManifestTemplateIsWhatBerthWritesWithTheDefaultSettings() throws Exception {
        Path home = Path.of(System.getProperty("berth.home", ".."));
        JsonNode template = Json.mapper().readTree(home.resolve("manifests/cni/99-berth-default.conflist").toFile());
        DefaultNetwork def = new DefaultNetwork(CniPodNetwork.DefaultNetworkSettings.of("10.88.0.0/16", Path.of("/var/lib/berth/cni/ipam")));
        assertEquals(template, def.conflist(List.of()));
    }
}
