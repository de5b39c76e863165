package dev.berth.criserver.cri;

import dev.berth.common.BerthVersion;
import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.criserver.runtime.Readiness;
import dev.berth.networking.PodCidrs;
import dev.berth.common.Json;
import dev.berth.cri.v1.CgroupDriver;
import dev.berth.cri.v1.LinuxRuntimeConfiguration;
import dev.berth.cri.v1.RuntimeCondition;
import dev.berth.cri.v1.RuntimeConfigResponse;
import dev.berth.cri.v1.RuntimeFeatures;
import dev.berth.cri.v1.RuntimeHandler;
import dev.berth.cri.v1.RuntimeHandlerFeatures;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.RuntimeStatus;
import dev.berth.cri.v1.StatusRequest;
import dev.berth.cri.v1.StatusResponse;
import dev.berth.cri.v1.UpdateRuntimeConfigRequest;
import dev.berth.cri.v1.UpdateRuntimeConfigResponse;
import dev.berth.cri.v1.VersionResponse;
import dev.berth.podsandbox.oci.HandlerProbes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Supplier;

/** Version, Status, RuntimeConfig and UpdateRuntimeConfig: what the kubelet asks of the runtime as a whole. */
public final class RuntimeInfoRpcs implements CriRegistry.Feature {
    /** The version of the CRI API berth serves, in VersionResponse.version (as the kubelet expects). */
    static final String KUBELET_API_VERSION = "0.1.0";

    /**
     * What the runtime says of its own set-up: the cgroup driver it shares with the kubelet,
     * its handlers (name to the facts Status verbose lists of each), and where it keeps state.
     */
    public record Settings(String cgroupDriver, String defaultHandler, Map<String, ?> handlers, java.nio.file.Path socket,
                           java.nio.file.Path root, java.nio.file.Path runRoot, String configSource) {
    }

    private final Settings config;
    private final PodCidrs state;
    private final List<Readiness.Check> checks;
    private final Map<String, Supplier<?>> verboseExtras = new LinkedHashMap<>();
    private volatile HandlerProbes probes;

    public RuntimeInfoRpcs(Settings config, PodCidrs state, List<Readiness.Check> checks) {
        this.config = config;
        this.state = state;
        this.checks = List.copyOf(checks);
    }

    /** More facts for Status verbose info (e.g. what cgroup layout is in use). */
    public RuntimeInfoRpcs withVerboseInfo(String key, Object value) {
        verboseExtras.put(key, () -> value);
        return this;
    }

    /** A fact for Status verbose info that may change (e.g. found by a probe still running), read at each call. */
    public RuntimeInfoRpcs withLiveVerboseInfo(String key, Supplier<?> value) {
        verboseExtras.put(key, value);
        return this;
    }

    /**
     * Which handlers can run containers here and what each supports. Without probes every
     * configured handler is offered, supporting nothing beyond the basics.
     */
    public RuntimeInfoRpcs withHandlerProbes(HandlerProbes probes) {
        this.probes = probes;
        return this;
    }

    @Override
    public void register(CriRegistry registry) {
        registry.unary(RuntimeServiceGrpc.getVersionMethod(), request -> VersionResponse.newBuilder()
                .setVersion(KUBELET_API_VERSION)
                .setRuntimeName("berth")
                .setRuntimeVersion(BerthVersion.get())
                .setRuntimeApiVersion("v1")
                .build());
        registry.unary(RuntimeServiceGrpc.getStatusMethod(), this::status);
        registry.unary(RuntimeServiceGrpc.getRuntimeConfigMethod(), request -> RuntimeConfigResponse.newBuilder()
                .setLinux(LinuxRuntimeConfiguration.newBuilder()
                        .setCgroupDriver("systemd".equals(config.cgroupDriver()) ? CgroupDriver.SYSTEMD : CgroupDriver.CGROUPFS))
                .build());
        registry.unary(RuntimeServiceGrpc.getUpdateRuntimeConfigMethod(), this::updateRuntimeConfig);
    }

    private StatusResponse status(StatusRequest request) {
        RuntimeStatus.Builder status = RuntimeStatus.newBuilder();
        for (Readiness.Check check : checks) {
            Readiness r = check.check();
            status.addConditions(RuntimeCondition.newBuilder()
                    .setType(r.type()).setStatus(r.ready()).setReason(r.reason()).setMessage(r.message()));
        }
        StatusResponse.Builder response = StatusResponse.newBuilder().setStatus(status)
                .setFeatures(RuntimeFeatures.newBuilder().setSupplementalGroupsPolicy(true));
        Map<String, HandlerProbes.Result> results = new TreeMap<>();
        for (String name : new TreeSet<>(config.handlers().keySet())) {
            results.put(name, probes == null ? HandlerProbes.Result.available(HandlerProbes.Features.NONE)
                    : probes.results().getOrDefault(name, HandlerProbes.Result.PROBING));
        }
        // handlers seen not to run containers here are left out; one still being probed (the first
        // second after start) is offered with no features, as a caller asking that early expects
        // the handlers it configured; the default also under the empty name
        Map<String, String> unavailable = new TreeMap<>();
        List<String> probing = new ArrayList<>();
        results.forEach((name, r) -> {
            switch (r.state()) {
                case AVAILABLE -> response.addRuntimeHandlers(handler(name, r.features()));
                case UNAVAILABLE -> unavailable.put(name, r.reason());
                case PROBING -> {
                    probing.add(name);
                    response.addRuntimeHandlers(handler(name, HandlerProbes.Features.NONE));
                }
            }
        });
        HandlerProbes.Result byDefault = results.get(config.defaultHandler());
        if (byDefault != null && byDefault.state() != HandlerProbes.State.UNAVAILABLE) {
            response.addRuntimeHandlers(0, handler("", byDefault.state() == HandlerProbes.State.AVAILABLE
                    ? byDefault.features() : HandlerProbes.Features.NONE));
        }
        if (request.getVerbose()) {
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("runtimeVersion", BerthVersion.get());
            info.put("socket", config.socket().toString());
            info.put("root", config.root().toString());
            info.put("runRoot", config.runRoot().toString());
            info.put("cgroupDriver", config.cgroupDriver());
            info.put("defaultRuntimeHandler", config.defaultHandler());
            info.put("runtimeHandlers", config.handlers());
            info.put("unavailableRuntimeHandlers", unavailable);
            if (!probing.isEmpty()) {
                info.put("probingRuntimeHandlers", probing);
            }
            // why an offered handler lacks a feature (its probe container did not use it, or the
            // kernel or its features document rules it out)
            Map<String, Map<String, String>> lacking = new TreeMap<>();
            results.forEach((name, r) -> {
                if (r.state() == HandlerProbes.State.AVAILABLE && !r.unsupported().isEmpty()) {
                    lacking.put(name, new TreeMap<>(r.unsupported()));
                }
            });
            if (!lacking.isEmpty()) {
                info.put("handlerFeatures", lacking);
            }
            info.put("podCidrs", state.podCidrs());
            info.put("configSource", config.configSource());
            verboseExtras.forEach((key, value) -> info.put(key, value.get()));
            response.putInfo("config", Json.write(info));
        }
        return response.build();
    }

    private static RuntimeHandler handler(String name, HandlerProbes.Features features) {
        return RuntimeHandler.newBuilder().setName(name)
                .setFeatures(RuntimeHandlerFeatures.newBuilder()
                        .setRecursiveReadOnlyMounts(features.recursiveReadOnlyMounts())
                        .setUserNamespaces(features.userNamespaces()))
                .build();
    }

    private UpdateRuntimeConfigResponse updateRuntimeConfig(UpdateRuntimeConfigRequest request) {
        state.updatePodCidr(request.getRuntimeConfig().getNetworkConfig().getPodCidr());
        return UpdateRuntimeConfigResponse.getDefaultInstance();
    }
}
