package dev.berth.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cli.client.ClientCommands;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Every command's --help, as operators and the man page read it. */
class HelpTest {
    @Test
    void everyCommandHelpEndsWithExamplesAndEveryClientCommandListsItsExitCodes() {
        List<CommandLine> all = new ArrayList<>();
        collect(Main.commandLine(), all);
        assertTrue(all.size() > 30, "the client's commands are there: " + all.size());
        for (CommandLine c : all) {
            String name = c.getCommandSpec().qualifiedName();
            if (c.getCommandSpec().userObject() instanceof CommandLine.HelpCommand) {
                continue;
            }
            String help = c.getUsageMessage(CommandLine.Help.Ansi.OFF);
            assertTrue(help.contains("\nExamples:\n"), name + " has no examples:\n" + help);
            assertTrue(!help.contains("%n") && !help.contains("Invalid format"), name + ": a format escape shows:\n" + help);
            if (ClientCommands.all().contains(c.getCommandSpec().userObject().getClass())) {
                assertTrue(help.contains("\nExit codes:\n") && help.contains("  3   no such pod, container or image"), name + ":\n" + help);
            }
        }
    }

    @Test
    void aClientCallBuildsOnlyItsOwnCommandAndHelpBuildsThemAll() {
        assertTrue(Main.commandLine(new String[] {"ps", "-a"}).getSubcommands().keySet().equals(java.util.Set.of("ps")));
        assertTrue(Main.commandLine(new String[] {"--version"}).getSubcommands().isEmpty());
        for (String[] whole : List.of(new String[] {"--help"}, new String[] {"help", "ps"}, new String[] {"completion"}, new String[] {"nonsense"})) {
            assertTrue(Main.commandLine(whole).getSubcommands().keySet().containsAll(List.of("daemon", "agent", "ps", "exec", "help")),
                    String.join(" ", whole));
        }
    }

    private static void collect(CommandLine c, List<CommandLine> into) {
        for (CommandLine sub : c.getSubcommands().values()) {
            into.add(sub);
            collect(sub, into);
        }
    }
}
