package dev.berth.agent;

import dev.berth.agent.config.BerthConfig;
import dev.berth.agent.cri.ImageRpcs;
import dev.berth.agent.cri.Images;
import dev.berth.agent.cri.RuntimeInfoRpcs;
import dev.berth.agent.grpc.CriRegistry;
import dev.berth.agent.grpc.CriServer;
import dev.berth.agent.runtime.NetworkReadiness;
import dev.berth.agent.runtime.RuntimeReadiness;
import dev.berth.agent.runtime.RuntimeState;
import dev.berth.common.BerthException;
import dev.berth.images.ImageService;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/** {@code berth daemon}: builds every part of the runtime from the configuration and serves the CRI until told to stop. */
public final class Daemon {
    private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);

    private final BerthConfig config;
    private final CountDownLatch stop = new CountDownLatch(1);

    public Daemon(BerthConfig config) {
        this.config = config;
    }

    public int run() throws InterruptedException {
        LOG.info("berth {} starting (config: {}, root: {}, run root: {})", BerthVersion.get(), config.source(),
                config.root(), config.runRoot());
        createStateDirectory(config.root());
        createStateDirectory(config.runRoot());

        RuntimeState state = new RuntimeState(config.root());
        CriRegistry registry = new CriRegistry();
        new RuntimeInfoRpcs(config, state, List.of(new RuntimeReadiness(config), new NetworkReadiness()))
                .register(registry);
        ImageService images = Images.open(config);
        new ImageRpcs(images, config.root().resolve("containers")).register(registry);

        CriServer server = CriServer.start(config.grpc().socket(), registry, config.grpc().maxMessageSize());
        Signal.handle(new Signal("TERM"), this::onSignal);
        Signal.handle(new Signal("INT"), this::onSignal);
        LOG.info("berth ready in {} ms", ManagementFactory.getRuntimeMXBean().getUptime());
        stop.await();
        server.shutdown(config.grpc().shutdownTimeout());
        images.close();
        LOG.info("berth stopped");
        return 0;
    }

    private void onSignal(Signal signal) {
        LOG.info("received SIG{}, shutting down", signal.getName());
        stop.countDown();
    }

    private static void createStateDirectory(Path dir) {
        try {
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx--x--x")));
            }
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot create state directory %s: %s", dir, e.getMessage());
        }
        if (!Files.isWritable(dir)) {
            throw BerthException.failedPrecondition("state directory %s is not writable", dir);
        }
    }
}
