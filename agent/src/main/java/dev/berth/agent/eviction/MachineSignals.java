package dev.berth.agent.eviction;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.node.MachineUsage;
import dev.berth.cri.v1.ImageFsInfoResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The signals of this machine ({@link MachineUsage}): memory.available (capacity less the
 * working set: the root memory cgroup's usage less its inactive file pages on cgroup v1,
 * meminfo's MemFree plus Inactive(file) on a unified hierarchy), nodefs (statvfs of the
 * agent's state directory), imagefs (statvfs of the runtime's image filesystem, as CRI
 * ImageFsInfo names it; the nodefs when it names none) and pid.available.
 */
public final class MachineSignals implements NodeSignals {
    private final Path nodefs;
    private final CriClient cri;
    private final long memoryCapacity;
    private Path imagefs;
    private boolean imagefsUnknown;

    /** {@code cri} null: the image filesystem is the node's. */
    public MachineSignals(Path nodefs, CriClient cri, long memoryCapacity) {
        this.nodefs = nodefs;
        this.cri = cri;
        this.memoryCapacity = memoryCapacity;
    }

    @Override
    public Map<String, Observation> observe() {
        MachineUsage u = MachineUsage.sample(nodefs, imagefs(), memoryCapacity);
        Map<String, Observation> out = new LinkedHashMap<>();
        put(out, Signals.MEMORY_AVAILABLE, u.memoryAvailable(), u.memoryCapacity());
        put(out, Signals.NODEFS_AVAILABLE, u.nodefs().availableBytes(), u.nodefs().capacityBytes());
        put(out, Signals.NODEFS_INODES_FREE, u.nodefs().inodesFree(), u.nodefs().inodes());
        put(out, Signals.IMAGEFS_AVAILABLE, u.imagefs().availableBytes(), u.imagefs().capacityBytes());
        put(out, Signals.IMAGEFS_INODES_FREE, u.imagefs().inodesFree(), u.imagefs().inodes());
        put(out, Signals.PID_AVAILABLE, u.pidAvailable(), u.pidMax());
        return out;
    }

    private static void put(Map<String, Observation> out, String signal, long available, long capacity) {
        if (available >= 0 && capacity >= 0) {
            out.put(signal, new Observation(available, capacity));
        }
    }

    /** The runtime's image filesystem, asked until it answers, then kept (it does not move). */
    private Path imagefs() {
        if (imagefs != null || imagefsUnknown || cri == null) {
            return imagefs;
        }
        try {
            ImageFsInfoResponse r = cri.imageFsInfo();
            if (r.getImageFilesystemsCount() > 0 && !r.getImageFilesystems(0).getFsId().getMountpoint().isEmpty()) {
                imagefs = Path.of(r.getImageFilesystems(0).getFsId().getMountpoint());
            }
        } catch (StatusRuntimeException e) {
            imagefsUnknown = e.getStatus().getCode() == Status.Code.UNIMPLEMENTED;
        }
        return imagefs;
    }
}
