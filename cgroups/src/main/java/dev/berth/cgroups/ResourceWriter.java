package dev.berth.cgroups;

import static dev.berth.cgroups.ControllerBindings.dir;

import dev.berth.common.BerthException;
import java.nio.file.Path;
import java.util.Map;

/** Writes validated resources into an existing cgroup: each bound controller its fields, then the unified keys verbatim. */
final class ResourceWriter {
    private final ControllerBindings bindings;
    private final ResourceValidation validation;

    ResourceWriter(ControllerBindings bindings, ResourceValidation validation) {
        this.bindings = bindings;
        this.validation = validation;
    }

    void apply(String path, Resources r) {
        if (r == null) {
            return;
        }
        validation.checkFilesExist(path, r);
        for (ControllerBindings.Bound b : bindings.bound()) {
            b.controller().apply(dir(b.root(), path), r);
        }
        if (!r.unified().isEmpty()) {
            Path dir = dir(bindings.layout().unifiedMount(), path);
            for (Map.Entry<String, String> e : r.unified().entrySet()) {
                Path file = dir.resolve(e.getKey());
                try {
                    CgroupFiles.write(file, e.getValue());
                } catch (BerthException ex) {
                    if (ex.kind() == BerthException.Kind.INTERNAL) {
                        throw BerthException.invalidArgument("unified key %s = %s was refused: %s", e.getKey(), e.getValue(), ex.getMessage());
                    }
                    throw ex;
                }
            }
        }
    }
}
