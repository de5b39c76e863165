package dev.berth.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code berth daemon}'s options parsed without picocli, as picocli parses them; anything else left to picocli. */
class MainDaemonOptionsTest {
    @Test
    void theDaemonsOptionsAreParsedAsPicocliParsesThem() {
        String[] args = {"daemon", "--config", "/etc/b.toml", "--socket=/run/b.sock", "--root", "/var/lib/b", "--run-root=/run/b",
            "--log-level", "debug", "--log-format=json", "--metrics-address="};
        Main.RuntimeOptions fast = Main.daemonOptions(args);
        assertNotNull(fast);
        CommandLine cli = new CommandLine(new Main());
        Main.DaemonCommand parsed = (Main.DaemonCommand) cli.parseArgs(args).subcommand().commandSpec().userObject();
        Main.RuntimeOptions slow = parsed.options;
        assertEquals(Path.of("/etc/b.toml"), fast.config);
        assertEquals(slow.config, fast.config);
        assertEquals(slow.socket, fast.socket);
        assertEquals(slow.root, fast.root);
        assertEquals(slow.runRoot, fast.runRoot);
        assertEquals(slow.logLevel, fast.logLevel);
        assertEquals(slow.logFormat, fast.logFormat);
        assertEquals("", fast.metricsAddress);
        assertEquals(slow.metricsAddress, fast.metricsAddress);
    }

    @Test
    void everyOptionOfTheDaemonCommandIsKnownToTheFastPath() {
        CommandLine daemon = new CommandLine(new Main()).getSubcommands().get("daemon");
        Set<String> options = daemon.getCommandSpec().options().stream().map(CommandLine.Model.OptionSpec::longestName)
                .filter(n -> !n.equals("--help") && !n.equals("--version")).collect(Collectors.toCollection(TreeSet::new));
        for (String option : options) {
            assertNotNull(Main.daemonOptions(new String[] {"daemon", option, "x"}), option + " is parsed without picocli");
        }
        assertEquals(7, options.size(), "a new option of berth daemon needs a case in Main.daemonOptions: " + options);
    }

    @Test
    void anythingElseIsLeftToPicocli() {
        assertNull(Main.daemonOptions(new String[] {}));
        assertNull(Main.daemonOptions(new String[] {"agent", "--root", "/x"}));
        assertNull(Main.daemonOptions(new String[] {"daemon", "--help"}));
        assertNull(Main.daemonOptions(new String[] {"daemon", "-h"}));
        assertNull(Main.daemonOptions(new String[] {"daemon", "--version"}));
        assertNull(Main.daemonOptions(new String[] {"daemon", "--unknown", "x"}));
        assertNull(Main.daemonOptions(new String[] {"daemon", "--root"}), "a value missing");
        assertNull(Main.daemonOptions(new String[] {"daemon", "--root", "--socket", "/s"}), "an option where a value belongs");
        assertNull(Main.daemonOptions(new String[] {"daemon", "--root", "/a", "--root=/b"}), "given twice");
        assertNull(Main.daemonOptions(new String[] {"daemon", "extra"}));
        assertNull(Main.daemonOptions(new String[] {"daemon", "--root", "/a\0b"}), "a path picocli refuses");
    }
}
