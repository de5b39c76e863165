package dev.berth.criserver.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.Json;
import dev.berth.cri.v1.RuntimeHandler;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StatusRequest;
import dev.berth.cri.v1.StatusResponse;
import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.networking.PodCidrs;
import dev.berth.podsandbox.oci.HandlerProbes;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Status: the handlers offered with their own features, those that cannot run here, the runtime's features. */
class RuntimeInfoRpcsTest {
    @TempDir
    Path dir;
    Server server;
    ManagedChannel channel;
    final List<Runnable> background = new ArrayList<>();

    @AfterEach
    void stop() {
        if (channel != null) {
            channel.shutdownNow();
            server.shutdownNow();
        }
    }

    RuntimeServiceGrpc.RuntimeServiceBlockingStub serve(RuntimeInfoRpcs rpcs) throws Exception {
        CriRegistry registry = new CriRegistry();
        rpcs.register(registry);
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).directExecutor().addService(registry.runtimeService()).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        return RuntimeServiceGrpc.newBlockingStub(channel);
    }

    RuntimeInfoRpcs rpcs(String defaultHandler, String... handlers) {
        Map<String, Object> configured = new LinkedHashMap<>();
        for (String h : handlers) {
            configured.put(h, Map.of("binary", h));
        }
        return new RuntimeInfoRpcs(new RuntimeInfoRpcs.Settings("cgroupfs", defaultHandler, configured, dir.resolve("sock"),
                dir.resolve("root"), dir.resolve("run"), "test"), new PodCidrs(dir), List.of());
    }

    static Map<String, RuntimeHandler> byName(StatusResponse r) {
        Map<String, RuntimeHandler> out = new LinkedHashMap<>();
        r.getRuntimeHandlersList().forEach(h -> out.put(h.getName(), h));
        return out;
    }

    static JsonNode verbose(StatusResponse r) throws Exception {
        return Json.mapper().readTree(r.getInfoOrThrow("config"));
    }

    @Test
    void eachHandlerThatRunsHereIsOfferedWithItsOwnFeaturesAndARefusedOneIsNamedWithItsReason() throws Exception {
        HandlerProbes probes = HandlerProbes.start(List.of("crun", "kata", "runc"), handler -> switch (handler) {
            case "runc" -> HandlerProbes.Result.available(new HandlerProbes.Features(true, false),
                    Map.of(HandlerProbes.USER_NAMESPACES, "the container did not run in the user namespace it was given"));
            case "kata" -> HandlerProbes.Result.available(new HandlerProbes.Features(false, true));
            default -> HandlerProbes.Result.unavailable("crun run failed: cgroups in hybrid mode not supported");
        }, Runnable::run);
        StatusResponse r = serve(rpcs("runc", "runc", "crun", "kata").withHandlerProbes(probes))
                .status(StatusRequest.newBuilder().setVerbose(true).build());

        assertEquals(List.of("", "kata", "runc"), r.getRuntimeHandlersList().stream().map(RuntimeHandler::getName).toList(),
                "the default first under the empty name, crun left out");
        Map<String, RuntimeHandler> h = byName(r);
        assertTrue(h.get("runc").getFeatures().getRecursiveReadOnlyMounts());
        assertFalse(h.get("runc").getFeatures().getUserNamespaces());
        assertTrue(h.get("kata").getFeatures().getUserNamespaces());
        assertFalse(h.get("kata").getFeatures().getRecursiveReadOnlyMounts());
        assertEquals(h.get("runc").getFeatures(), h.get("").getFeatures(), "the empty name is the default's");
        assertTrue(r.getFeatures().getSupplementalGroupsPolicy());

        JsonNode info = verbose(r);
        assertEquals("crun run failed: cgroups in hybrid mode not supported",
                info.path("unavailableRuntimeHandlers").path("crun").asText());
        assertEquals(1, info.path("unavailableRuntimeHandlers").size());
        assertTrue(info.path("probingRuntimeHandlers").isMissingNode());
        // why an offered handler lacks a feature, for operators; only handlers that lack one with a reason
        assertEquals("the container did not run in the user namespace it was given",
                info.path("handlerFeatures").path("runc").path("userNamespaces").asText(), info.toString());
        assertEquals(1, info.path("handlerFeatures").size(), info.toString());
        assertEquals(1, info.path("handlerFeatures").path("runc").size(), info.toString());
    }

    @Test
    void aHandlerStillBeingProbedIsOfferedWithoutFeaturesAndARefusedDefaultLeavesTheEmptyNameOut() throws Exception {
        HandlerProbes probes = HandlerProbes.start(List.of("crun", "runc"), handler -> handler.equals("crun")
                ? HandlerProbes.Result.unavailable("no") : HandlerProbes.Result.available(HandlerProbes.Features.NONE),
                background::add);
        RuntimeServiceGrpc.RuntimeServiceBlockingStub stub = serve(rpcs("crun", "runc", "crun").withHandlerProbes(probes));
        StatusResponse before = stub.status(StatusRequest.newBuilder().setVerbose(true).build());
        assertEquals(List.of("", "crun", "runc"), before.getRuntimeHandlersList().stream().map(RuntimeHandler::getName).toList(),
                "before their probes, the configured handlers are offered (a kubelet asking at start expects them)");
        assertTrue(before.getRuntimeHandlersList().stream().noneMatch(h -> h.getFeatures().getUserNamespaces()
                || h.getFeatures().getRecursiveReadOnlyMounts()), "but with no feature before it was seen to work");
        assertEquals(List.of("crun", "runc"), Json.mapper().convertValue(verbose(before).path("probingRuntimeHandlers"),
                List.class));

        background.forEach(Runnable::run);
        assertTrue(probes.done());
        StatusResponse after = stub.status(StatusRequest.newBuilder().setVerbose(true).build());
        assertEquals(List.of("runc"), after.getRuntimeHandlersList().stream().map(RuntimeHandler::getName).toList(),
                "the default crun cannot run here: no empty name either");
        assertEquals("no", verbose(after).path("unavailableRuntimeHandlers").path("crun").asText());
    }

    @Test
    void withoutProbesEveryConfiguredHandlerIsOfferedWithoutFeaturesAndLiveInfoIsReadAtEachCall() throws Exception {
        String[] checkpoint = {"being checked"};
        RuntimeServiceGrpc.RuntimeServiceBlockingStub stub = serve(rpcs("runc", "runc", "crun")
                .withLiveVerboseInfo("checkpoint", () -> checkpoint[0]));
        StatusResponse r = stub.status(StatusRequest.newBuilder().setVerbose(true).build());
        assertEquals(List.of("", "crun", "runc"), r.getRuntimeHandlersList().stream().map(RuntimeHandler::getName).toList());
        r.getRuntimeHandlersList().forEach(h -> {
            assertFalse(h.getFeatures().getRecursiveReadOnlyMounts());
            assertFalse(h.getFeatures().getUserNamespaces());
        });
        assertTrue(r.getFeatures().getSupplementalGroupsPolicy());
        assertEquals("being checked", verbose(r).path("checkpoint").asText());
        checkpoint[0] = "unsupported: criu check failed";
        assertEquals("unsupported: criu check failed",
                verbose(stub.status(StatusRequest.newBuilder().setVerbose(true).build())).path("checkpoint").asText());
    }
}
