package dev.berth.cli.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
    private static final BerthConfig.Overrides NONE = BerthConfig.Overrides.none();

    @TempDir
    Path dir;

    private static BerthConfig parse(String toml) {
        return ConfigLoader.parse(toml, NONE, "test.toml");
    }

    private static String error(String toml) {
        return assertThrows(ConfigException.class, () -> parse(toml)).getMessage();
    }

    @Test
    void everyKeyHasItsDocumentedDefault() {
        BerthConfig c = parse("");
        assertEquals(Path.of("/var/lib/berth"), c.root());
        assertEquals(Path.of("/run/berth"), c.runRoot());
        assertEquals(Path.of("/run/berth/berth.sock"), c.grpc().socket());
        assertEquals(16 * 1024 * 1024, c.grpc().maxMessageSize());
        assertEquals(Duration.ofSeconds(10), c.grpc().shutdownTimeout());
        assertEquals("info", c.log().level());
        assertEquals("text", c.log().format());
        assertEquals("cgroupfs", c.cgroup().driver());
        assertEquals("runc", c.runtime().defaultHandler());
        assertEquals("crun", c.runtime().handler("crun").binary());
        assertEquals(Path.of("/etc/cni/net.d"), c.network().cniConfigDir());
        assertEquals(List.of(Path.of("/opt/cni/bin"), Path.of("/usr/lib/cni")), c.network().cniBinDirs());
    }

    @Test
    void theShippedConfigFileDocumentsTheDefaults() throws Exception {
        Path shipped = Path.of(System.getProperty("berth.home", ".."), "manifests", "config.toml");
        BerthConfig fromFile = ConfigLoader.load(shipped, NONE);
        BerthConfig defaults = parse("");
        assertEquals(defaults.withSource("x"), fromFile.withSource("x"));
        // and with every commented default switched on, the values are still the defaults
        String uncommented = Files.readString(shipped).replaceAll("(?m)^#(\\[|[a-z_]+ = )", "$1");
        assertNotEquals(Files.readString(shipped), uncommented, "the shipped file has commented defaults to switch on");
        // (switched on, runc and crun are the file's own handlers rather than built in: the same values, but a missing
        // runtime of theirs stops berth instead of being left out)
        java.util.Map<String, BerthConfig.Handler> named = new java.util.LinkedHashMap<>();
        defaults.runtime().handlers().forEach((k, h) -> named.put(k, new BerthConfig.Handler(h.name(), h.binary())));
        BerthConfig spelledOut = defaults.withRuntime(new BerthConfig.Runtime(defaults.runtime().defaultHandler(), java.util.Map.copyOf(named)));
        assertEquals(spelledOut.withSource("x"), parse(uncommented).withSource("x"));
    }

    @Test
    void unpackCapsAreReadFromTheImagesTableAndBoundedBelow() {
        BerthConfig c = parse("[images]\nmax_layer_bytes = 1073741824\nmax_layer_entries = 5000\n"
                + "max_image_bytes = 2147483648\nmax_image_entries = 9000\n");
        assertEquals(new dev.berth.images.layer.UnpackLimits(1L << 30, 5000, 2L << 30, 9000), c.images().unpack());
        assertEquals(dev.berth.images.layer.UnpackLimits.DEFAULTS, parse("").images().unpack());
        assertTrue(error("[images]\nmax_layer_entries = 0\n").contains("images.max_layer_entries"));
    }

    @Test
    void socketFollowsRunRootUnlessSetAndFlagsWinOverTheFile() {
        assertEquals(Path.of("/tmp/r/berth.sock"), parse("run_root = \"/tmp/r\"").grpc().socket());
        BerthConfig c = ConfigLoader.parse("root = \"/a\"\n[log]\nlevel = \"warn\"\n",
                new BerthConfig.Overrides(Path.of("/b"), null, Path.of("/c/s.sock"), "debug", "json"), "t");
        assertEquals(Path.of("/b"), c.root());
        assertEquals(Path.of("/c/s.sock"), c.grpc().socket());
        assertEquals("debug", c.log().level());
        assertEquals("json", c.log().format());
    }

    @Test
    void theAgentTableIsReadAndItsFlagsWin() {
        BerthConfig.Agent d = parse("").agent();
        assertEquals("", d.nodeName());
        assertEquals(null, d.podManifestPath());
        assertEquals(Path.of("/var/log/pods"), d.podLogsDir());
        assertEquals(Duration.ofSeconds(20), d.manifestRescanInterval());
        assertEquals(Duration.ofMinutes(2), d.runtimeRequestTimeout());
        BerthConfig.Agent a = parse("[agent]\nnode_name = \"n1\"\npod_manifest_path = \"/etc/berth/manifests\"\n"
                + "container_runtime_endpoint = \"unix:///run/containerd/containerd.sock\"\nmanifest_rescan_interval = \"5s\"\n").agent();
        assertEquals("n1", a.nodeName());
        assertEquals(Path.of("/etc/berth/manifests"), a.podManifestPath());
        assertEquals("unix:///run/containerd/containerd.sock", a.containerRuntimeEndpoint());
        assertEquals(Duration.ofSeconds(5), a.manifestRescanInterval());
        BerthConfig.Agent flagged = a.withFlags("n2", Path.of("/m"), null, "");
        assertEquals("n2", flagged.nodeName());
        assertEquals(Path.of("/m"), flagged.podManifestPath());
        assertEquals("", flagged.containerRuntimeEndpoint(), "an empty endpoint flag means berth's own runtime");
        assertTrue(error("[agent]\nnode_name = \"Not_A_Node\"").contains("'agent.node_name' must be a DNS subdomain"));
        assertTrue(error("[agent]\ncontainer_runtime_endpoint = \"/run/x.sock\"").contains("must be a unix:///path endpoint"));
        assertTrue(error("[agent]\npod_manifest_path = \"manifests\"").contains("'agent.pod_manifest_path' must be an absolute path"));
        assertTrue(error("[agent]\nmanifest_rescan_interval = \"0s\"").contains("must be positive"));
        assertThrows(ConfigException.class, () -> a.withFlags("UPPER", null, null, null));
    }

    @Test
    void unknownKeysAreNamedWithTheirFullPath() {
        assertTrue(error("rooot = \"/x\"").contains("unknown config key 'rooot'"));
        assertTrue(error("[grpc]\nsockett = \"/x\"").contains("unknown config key 'grpc.sockett'"));
        assertTrue(error("[runtime.handlers.kata]\nbinary = \"kata\"\npath = \"/x\"")
                .contains("unknown config key 'runtime.handlers.kata.path'"));
        assertTrue(error("[nonsense]\na = 1").contains("unknown config key 'nonsense'"));
    }

    @Test
    void badValuesNameTheKeyAndTheExpectation() {
        assertTrue(error("[grpc]\nmax_message_size = \"x\"").contains("'grpc.max_message_size' must be an integer"));
        assertTrue(error("[grpc]\nmax_message_size = 1").contains("must be between 4096"));
        assertTrue(error("[grpc]\nshutdown_timeout = \"soon\"").contains("'grpc.shutdown_timeout' must be a duration"));
        assertTrue(error("[log]\nlevel = \"loud\"").contains("'log.level' must be one of"));
        assertTrue(error("root = \"relative/dir\"").contains("'root' must be an absolute path"));
        assertTrue(error("grpc = 3").contains("'grpc' must be a table"));
        assertTrue(error("[runtime]\ndefault_handler = \"kata\"").contains("'runtime.default_handler' names \"kata\""));
        assertTrue(error("[network]\ncni_bin_dirs = \"/opt/cni/bin\"").contains("must be an array of strings"));
    }

    @Test
    void invalidTomlAndMissingFilesAreReported() {
        assertTrue(error("[grpc").contains("is not valid TOML"));
        String missing = assertThrows(ConfigException.class,
                () -> ConfigLoader.load(dir.resolve("absent.toml"), NONE)).getMessage();
        assertTrue(missing.contains("absent.toml does not exist"), missing);
    }

    @Test
    void extraHandlersAreAddedBesideTheBuiltInOnes() {
        BerthConfig c = parse("[runtime]\ndefault_handler = \"fast\"\n[runtime.handlers.fast]\nbinary = \"/usr/bin/crun\"\n");
        assertEquals("/usr/bin/crun", c.runtime().handler("").binary());
        assertEquals("runc", c.runtime().handler("runc").binary());
    }

    @Test
    void durationsReadLikeContainerdsAndPrintBack() {
        assertEquals(Duration.ofMinutes(90), Durations.parse("1h30m"));
        assertEquals(Duration.ofMillis(250), Durations.parse("250ms"));
        assertEquals(Duration.ofMillis(1500), Durations.parse("1.5s"));
        assertEquals("1h30m", Durations.format(Duration.ofMinutes(90)));
        assertThrows(IllegalArgumentException.class, () -> Durations.parse("10"));
        assertThrows(IllegalArgumentException.class, () -> Durations.parse("10s garbage"));
    }
}
