package dev.berth.cli;

import dev.berth.cli.config.BerthConfig;
import dev.berth.images.ImageService;
import dev.berth.images.registry.CredentialStore;
import dev.berth.images.registry.HostsDirectory;
import dev.berth.images.registry.Platform;
import dev.berth.images.registry.RegistryClient;
import java.util.Set;

/** Builds berth's image store from the configuration. */
public final class Images {
    private Images() {
    }

    public static ImageService open(BerthConfig config) {
        BerthConfig.Registry r = config.registry();
        RegistryClient.Settings client = new RegistryClient.Settings(r.requestTimeout(), 3, java.time.Duration.ofMillis(500), Platform.host());
        ImageService.Settings settings = new ImageService.Settings(r.pullProgressTimeout(), r.maxConcurrentDownloads(),
                Set.copyOf(config.images().pinnedImages()), client, config.images().unpack());
        return new ImageService(config.root().resolve("images"), settings, new HostsDirectory(r.configPath(), r.requestTimeout()),
                new CredentialStore(r.authFile()));
    }
}
