package dev.berth.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cli.Main;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** berth(1) and the changelog of the Debian package, as PackageDocs renders them at build time. */
class PackageDocsTest {
    static final ZonedDateTime WHEN = ZonedDateTime.of(2025, 3, 4, 5, 6, 7, 0, ZoneOffset.UTC);
    /** The requests the man page may use; any other line starting with . or ' is text roff would misread. */
    static final Set<String> MACROS = Set.of(".TH", ".SH", ".SS", ".nf", ".fi", ".PP", ".TP", ".B", ".I", ".BR");

    @Command(name = "tool", description = {"tool: does things.", ".starts with a dot", "'starts with a quote", "back\\slash and --flag"},
            subcommands = {Sub.class, Hidden.class})
    static final class Tool {
    }

    @Command(name = "sub", aliases = "s", description = "a subcommand")
    static final class Sub {
        @Option(names = "--size", description = "a size")
        int size;
    }

    @Command(name = "secret", hidden = true, description = "not for the man page")
    static final class Hidden {
    }

    @Test
    void everyVisibleCommandOfBerthHasItsSectionWithItsWholeHelp() {
        String man = PackageDocs.manPage(Main.commandLine(), "1.2.3", WHEN);
        assertTrue(man.startsWith(".TH BERTH 1 \"2025-03-04\" \"berth 1.2.3\""), man.lines().findFirst().orElse(""));
        List<CommandLine> commands = PackageDocs.commands(Main.commandLine());
        assertTrue(commands.size() > 5, commands.toString());
        for (CommandLine c : commands) {
            String name = c.getCommandSpec().qualifiedName(" ");
            int at = man.indexOf(".SS \"" + PackageDocs.escape(name) + "\"\n.nf\n");
            assertTrue(at >= 0, "no section for " + name);
            String section = man.substring(at, man.indexOf("\n.fi\n", at));
            assertTrue(section.contains("Usage: " + PackageDocs.escape(name)), "no usage in the section of " + name + ":\n" + section);
        }
        assertTrue(man.contains(".SS \"berth image import\""), "nested subcommands are documented");
        assertTrue(man.contains("\\-\\-config=FILE"), "options of berth daemon");
        assertOnlyKnownRequests(man);
    }

    @Test
    void textIsEscapedSoThatRoffShowsItAsWritten() {
        String man = PackageDocs.manPage(new CommandLine(new Tool()), "1", WHEN);
        assertTrue(man.contains("\n\\&.starts with a dot\n"), man);
        assertTrue(man.contains("\n\\&'starts with a quote\n"), man);
        assertTrue(man.contains("back\\eslash and \\-\\-flag"), man);
        assertTrue(man.contains(".SH NAME\ntool \\- does things.\n"), man);
        assertOnlyKnownRequests(man);
    }

    @Test
    void aliasesAppearOnceAndHiddenCommandsNotAtAll() {
        String man = PackageDocs.manPage(new CommandLine(new Tool()), "1", WHEN);
        assertEquals(1, Pattern.compile("^\\.SS \"tool sub\"$", Pattern.MULTILINE).matcher(man).results().count(), man);
        assertFalse(man.contains("secret"), man);
        assertTrue(man.contains("\\-\\-size"), man);
    }

    @Test
    void theDebianVersionSortsSnapshotsAndPreReleasesBeforeTheRelease() {
        assertEquals("0.1.0~SNAPSHOT", PackageDocs.debianVersion("0.1.0-SNAPSHOT"));
        assertEquals("0.1.0", PackageDocs.debianVersion("0.1.0"));
        assertEquals("1.0~rc2", PackageDocs.debianVersion("1.0-rc2"));
        assertEquals("2.0~beta1", PackageDocs.debianVersion("2.0.beta1"));
    }

    @Test
    void theChangelogIsOneEntryInDebiansFormat() {
        String log = PackageDocs.changelog("0.1.0-SNAPSHOT", WHEN);
        List<String> lines = log.lines().toList();
        assertEquals("berth (0.1.0~SNAPSHOT) unstable; urgency=medium", lines.get(0));
        assertTrue(lines.get(2).startsWith("  * "), log);
        assertEquals(" -- " + PackageDocs.MAINTAINER + "  Tue, 04 Mar 2025 05:06:07 +0000", lines.get(lines.size() - 1));
    }

    @Test
    void gzipGivesTheSameBytesForTheSameText() throws IOException {
        byte[] a = PackageDocs.gzip("text\n");
        assertArrayEquals(a, PackageDocs.gzip("text\n"));
        try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(a))) {
            assertEquals("text\n", new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    private static void assertOnlyKnownRequests(String man) {
        for (String line : man.split("\n")) {
            if (line.startsWith(".") || line.startsWith("'")) {
                String request = line.split(" ", 2)[0];
                assertTrue(MACROS.contains(request), "a line roff reads as request " + request + ": " + line);
            }
        }
    }
}
