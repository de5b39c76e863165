package dev.berth.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.cri.v1.CriApiProto;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * berth must speak the exact wire protocol of the kubelet and crictl: every service, method,
 * message, field and enum value compiled from api.proto is compared with the published listing
 * of runtime.v1 (Kubernetes 1.36) in shared/cri-wire/runtime-v1.json.
 */
class WireConformanceTest {
    private static JsonNode expected;

    @BeforeAll
    static void loadListing() throws IOException {
        Path listing = listing();
        Assumptions.assumeTrue(listing != null && Files.isRegularFile(listing),
                "skipped: the runtime.v1 listing shared/cri-wire/runtime-v1.json is not present next to "
                        + "this checkout (set -Dberth.shared=DIR to point at it)");
        expected = new ObjectMapper().readTree(listing.toFile());
    }

    private static Path listing() {
        String shared = System.getProperty("berth.shared");
        if (shared != null) {
            return Path.of(shared, "cri-wire", "runtime-v1.json");
        }
        Path guess = Path.of("..", "..", "shared", "cri-wire", "runtime-v1.json");
        return Files.exists(guess) ? guess : null;
    }

    @Test
    void apiProtoMatchesTheRuntimeV1WireProtocol() {
        List<String> differences = WireDescriptorDiff.compare(CriApiProto.getDescriptor(), expected);
        assertTrue(differences.isEmpty(), () -> differences.size() + " differences between berth's api.proto and "
                + expected.path("cri_api_version").asText() + ":\n  " + String.join("\n  ", differences));
    }

    @Test
    void coversBothServicesAndEveryMessageAndEnum() {
        var file = CriApiProto.getDescriptor();
        assertEquals(35, file.findServiceByName("RuntimeService").getMethods().size());
        assertEquals(6, file.findServiceByName("ImageService").getMethods().size());
        assertEquals(expected.path("messages").size(), 198);
        assertEquals(expected.path("enums").size(), 11);
    }

    @Test
    void aWrongFieldNumberIsReportedByName() {
        ObjectNode tampered = expected.deepCopy();
        var field = (ObjectNode) tampered.path("messages").path("runtime.v1.ContainerConfig").path("fields").get(0);
        String name = field.path("name").asText();
        field.put("number", 99);
        List<String> differences = WireDescriptorDiff.compare(CriApiProto.getDescriptor(), tampered);
        assertTrue(differences.stream().anyMatch(d -> d.contains("runtime.v1.ContainerConfig field 99 (" + name + ")")),
                () -> "the tampered field number was not reported: " + differences);
    }

    @Test
    void aWrongEnumValueAndAMissingMethodAreReported() {
        ObjectNode tampered = expected.deepCopy();
        ((ObjectNode) tampered.path("enums").path("runtime.v1.ContainerState")).put("CONTAINER_EXITED", 7);
        var methods = (com.fasterxml.jackson.databind.node.ArrayNode) tampered.path("services").path("runtime.v1.ImageService");
        methods.addObject().put("name", "FrobnicateImage").put("input", "runtime.v1.ImageSpec")
                .put("output", "runtime.v1.ImageSpec");
        List<String> differences = WireDescriptorDiff.compare(CriApiProto.getDescriptor(), tampered);
        assertTrue(differences.stream().anyMatch(d -> d.startsWith("enum runtime.v1.ContainerState values")), differences::toString);
        assertTrue(differences.contains("method of runtime.v1.ImageService FrobnicateImage is missing from berth"),
                differences::toString);
    }
}
