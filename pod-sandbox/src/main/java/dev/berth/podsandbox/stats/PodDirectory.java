package dev.berth.podsandbox.stats;

import dev.berth.common.BerthException;
import dev.berth.podsandbox.sandbox.PodContext;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import dev.berth.podsandbox.sandbox.SandboxFilter;
import dev.berth.podsandbox.sandbox.SandboxService;
import dev.berth.podsandbox.sandbox.SandboxStatus;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Where the stats collector learns which pods exist, their cgroup and their network namespace. */
public interface PodDirectory {
    /**
     * One pod as stats need it. {@code cgroupPath} is "" without a pod cgroup; {@code netns} is
     * null for host-network pods.
     */
    record Pod(String id, SandboxConfig.Metadata metadata, Map<String, String> labels,
               Map<String, String> annotations, String cgroupPath, Path netns) {
        public Pod {
            labels = labels == null ? Map.of() : Map.copyOf(labels);
            annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
            cgroupPath = cgroupPath == null ? "" : cgroupPath;
        }
    }

    /** The pod with this id (or unique prefix). @throws BerthException NOT_FOUND */
    Pod find(String id);

    /** The pods whose id starts with {@code idPrefix} ("" = any) and whose labels include {@code labels}. */
    List<Pod> list(String idPrefix, Map<String, String> labels);

    /** The sandboxes of {@code sandboxes}. */
    static PodDirectory of(SandboxService sandboxes) {
        return new PodDirectory() {
            @Override
            public Pod find(String id) {
                return pod(sandboxes.podContext(id));
            }

            @Override
            public List<Pod> list(String idPrefix, Map<String, String> labels) {
                List<Pod> out = new ArrayList<>();
                for (SandboxStatus s : sandboxes.list(new SandboxFilter(idPrefix, null, labels))) {
                    try {
                        out.add(pod(sandboxes.podContext(s.id())));
                    } catch (BerthException e) {
                        if (e.kind() != BerthException.Kind.NOT_FOUND) {
                            throw e;
                        }
                        // removed meanwhile
                    }
                }
                return out;
            }

            private Pod pod(PodContext p) {
                SandboxConfig c = p.config();
                return new Pod(p.id(), c.metadata(), c.labels(), c.annotations(), p.cgroupPath(),
                        p.netnsPath().isEmpty() ? null : Path.of(p.netnsPath()));
            }
        };
    }
}
