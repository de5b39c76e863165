package dev.berth.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.berth.cli.config.BerthConfig;
import dev.berth.cli.config.ConfigLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which runtime handlers a daemon serves when not every runtime is installed. */
class DaemonHandlersTest {
    @TempDir
    Path dir;

    private BerthConfig load(String toml) throws Exception {
        Path f = Files.writeString(dir.resolve("config.toml"), toml);
        return ConfigLoader.load(f, new BerthConfig.Overrides(dir.resolve("root"), dir.resolve("run"), null, null, null, null));
    }

    @Test
    void aBuiltInHandlerWhoseRuntimeIsMissingIsLeftOut() throws Exception {
        BerthConfig c = Daemon.withAvailableHandlers(load(""), binary -> !binary.equals("crun"));
        assertEquals(Set.of("runc"), c.runtime().handlers().keySet());
        assertEquals("runc", c.runtime().handler("").name());
    }

    @Test
    void everyRuntimeInstalledChangesNothing() throws Exception {
        BerthConfig c = load("");
        assertSame(c, Daemon.withAvailableHandlers(c, binary -> true));
    }

    @Test
    void theDefaultHandlerAndConfiguredHandlersStayEvenWhenMissingSoStartUpStillRefusesThem() throws Exception {
        // nothing installed: runc stays (the default), crun as configured in the file stays, and so does "fast"
        BerthConfig c = Daemon.withAvailableHandlers(load("[runtime.handlers.crun]\nbinary = \"/opt/crun\"\n"
                + "[runtime.handlers.fast]\nbinary = \"/opt/fast\"\n"), binary -> false);
        assertEquals(Set.of("runc", "crun", "fast"), c.runtime().handlers().keySet());
        // crun made the default: it stays; runc, built in and missing, goes
        BerthConfig d = Daemon.withAvailableHandlers(load("[runtime]\ndefault_handler = \"crun\"\n"), binary -> !binary.equals("runc"));
        assertEquals(Set.of("crun"), d.runtime().handlers().keySet());
    }
}
