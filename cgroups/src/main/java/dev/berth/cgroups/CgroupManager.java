package dev.berth.cgroups;

import dev.berth.common.BerthException;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * berth's cgroup manager: each managed controller is served by its v2 implementation when
 * the unified hierarchy offers it and by its v1 implementation otherwise. A cgroup path
 * ("/kubepods/burstable/pod1") names the same directory under every hierarchy root berth
 * uses. Only directories under paths berth was asked to create are created, written or
 * removed; host mounts are only read. The jobs live in their own classes: which controller
 * serves what ({@link ControllerBindings}), checks before writing ({@link ResourceValidation}),
 * the directories ({@link CgroupTree}), limits ({@link ResourceWriter}) and counters
 * ({@link CgroupStatsReader}); this class resolves driver paths and orders the steps.
 */
public final class CgroupManager implements Cgroups {
    private static final Logger LOG = LoggerFactory.getLogger(CgroupManager.class);

    private final CgroupLayout layout;
    private final CgroupDriver driver;
    private final ResourceValidation validation;
    private final CgroupTree tree;
    private final ResourceWriter writer;
    private final CgroupStatsReader statsReader;

    public CgroupManager(CgroupLayout layout, CgroupDriver driver) {
        this.layout = layout;
        this.driver = driver;
        ControllerBindings bindings = new ControllerBindings(layout);
        this.validation = new ResourceValidation(bindings);
        this.tree = new CgroupTree(bindings);
        this.writer = new ResourceWriter(bindings, validation);
        this.statsReader = new CgroupStatsReader(bindings);
    }

    /** The manager for this host's mounts. */
    public static CgroupManager detect(String driver) {
        return new CgroupManager(CgroupLayout.detect(), CgroupDriver.of(driver));
    }

    public CgroupLayout layout() {
        return layout;
    }

    @Override
    public String mode() {
        return layout.mode();
    }

    @Override
    public String driver() {
        return driver.id();
    }

    @Override
    public String describe() {
        return layout.describe() + "; driver " + driver.id();
    }

    @Override
    public String podPath(String parent) {
        String path = driver.podPath(parent);
        if ("/".equals(path)) {
            throw BerthException.invalidArgument("the pod cgroup parent %s is the root cgroup", parent);
        }
        return path;
    }

    @Override
    public String createPod(String parent, Resources resources) {
        String path = podPath(parent);
        validation.validate(resources);
        tree.create(path);
        writer.apply(path, resources);
        LOG.debug("pod cgroup {} ready", path);
        return path;
    }

    @Override
    public String containerPath(String podCgroup, String containerId) {
        return driver.containerPath(podCgroup, containerId);
    }

    @Override
    public void update(String path, Resources resources) {
        String p = driver.resolve(path);
        validation.validate(resources);
        // a controller-bearing hierarchy decides: the OCI runtime may not mirror a cgroup into an empty cgroup2 of a hybrid host
        tree.requireHierarchy();
        if (!tree.exists(p)) {
            throw BerthException.notFound("cgroup %s does not exist", p);
        }
        writer.apply(p, resources);
    }

    @Override
    public void remove(String path) {
        String p = driver.resolve(path);
        if ("/".equals(p)) {
            throw BerthException.invalidArgument("refusing to remove the root cgroup");
        }
        tree.remove(p);
    }

    @Override
    public Optional<CgroupStats> stats(String path) {
        return statsReader.stats(driver.resolve(path));
    }

    @Override
    public long oomKills(String path) {
        return statsReader.oomKills(driver.resolve(path));
    }
}
