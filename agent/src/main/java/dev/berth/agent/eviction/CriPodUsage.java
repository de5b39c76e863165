package dev.berth.agent.eviction;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.KubeletKeys;
import dev.berth.cri.v1.ContainerStats;
import dev.berth.cri.v1.PodSandboxStats;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What each pod uses, from the runtime through the CRI: ListPodSandboxStats gives each pod's
 * working set and process count, and its containers' working sets and writable layers; a
 * runtime whose pod stats leave the containers out is asked ListContainerStats as well. A
 * pod's sandboxes (a new one after a restart) add up. A runtime that answers neither call
 * gives no stats: every pod then ranks as one without stats.
 */
public final class CriPodUsage implements PodUsage {
    private static final Logger LOG = LoggerFactory.getLogger(CriPodUsage.class);

    private final CriClient cri;

    public CriPodUsage(CriClient cri) {
        this.cri = cri;
    }

    @Override
    public Map<String, PodStats> pods() {
        List<PodSandboxStats> pods;
        try {
            pods = cri.listPodSandboxStats();
        } catch (StatusRuntimeException e) {
            LOG.warn("eviction: the runtime gives no pod stats ({}); pods rank without them", e.getStatus().getCode());
            return Map.of();
        }
        Map<String, Builder> out = new HashMap<>();
        boolean containersMissing = false;
        for (PodSandboxStats p : pods) {
            String uid = p.getAttributes().getLabelsOrDefault(KubeletKeys.POD_UID, p.getAttributes().getMetadata().getUid());
            if (uid.isEmpty() || !p.hasLinux()) {
                continue;
            }
            Builder b = out.computeIfAbsent(uid, Builder::new);
            var linux = p.getLinux();
            if (linux.hasMemory() && linux.getMemory().hasWorkingSetBytes()) {
                b.memory += linux.getMemory().getWorkingSetBytes().getValue();
                b.podMemoryKnown = true;
            }
            if (linux.hasProcess()) {
                b.processes += linux.getProcess().getProcessCount().getValue();
            }
            if (linux.getContainersCount() == 0) {
                containersMissing = true;
            }
            linux.getContainersList().forEach(b::add);
        }
        if (containersMissing) {
            try {
                for (ContainerStats c : cri.listContainerStats()) {
                    String uid = c.getAttributes().getLabelsOrDefault(KubeletKeys.POD_UID, "");
                    Builder b = out.get(uid);
                    if (b != null && b.containerMemory.isEmpty() && b.containerEphemeral.isEmpty()) {
                        b.pending.add(c);
                    }
                }
                out.values().forEach(b -> b.pending.forEach(b::add));
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() != Status.Code.UNIMPLEMENTED) {
                    LOG.warn("eviction: the runtime gives no container stats ({})", e.getStatus().getCode());
                }
            }
        }
        Map<String, PodStats> stats = new HashMap<>();
        out.forEach((uid, b) -> stats.put(uid, b.build()));
        return stats;
    }

    /** One pod's figures as they add up. */
    private static final class Builder {
        final String uid;
        long memory;
        boolean podMemoryKnown;
        long containersMemory;
        long processes;
        long ephemeral;
        long inodes;
        final Map<String, Long> containerMemory = new HashMap<>();
        final Map<String, Long> containerEphemeral = new HashMap<>();
        final List<ContainerStats> pending = new ArrayList<>();

        Builder(String uid) {
            this.uid = uid;
        }

        void add(ContainerStats c) {
            String name = c.getAttributes().getMetadata().getName();
            if (c.hasMemory() && c.getMemory().hasWorkingSetBytes()) {
                long ws = c.getMemory().getWorkingSetBytes().getValue();
                containerMemory.merge(name, ws, Long::sum);
                containersMemory += ws;
            }
            if (c.hasWritableLayer()) {
                long used = c.getWritableLayer().getUsedBytes().getValue();
                containerEphemeral.merge(name, used, Long::sum);
                ephemeral += used;
                inodes += c.getWritableLayer().getInodesUsed().getValue();
            }
        }

        PodStats build() {
            // a runtime without pod-level memory: its containers' working sets stand for the pod's
            return new PodStats(uid, podMemoryKnown ? memory : containersMemory, containerMemory, processes, ephemeral,
                    containerEphemeral, inodes);
        }
    }
}
