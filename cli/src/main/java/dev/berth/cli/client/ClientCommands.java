package dev.berth.cli.client;

import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;

/**
 * berth's CRI client: the commands, shaped like crictl's, that talk to berth or any CRI runtime
 * over its socket. Each takes {@link ClientOptions}, exits with {@link ExitCodes}, and lists
 * those codes in its --help.
 */
public final class ClientCommands {
    private ClientCommands() {
    }

    /** Every client command class, in the order --help lists them. */
    static List<Class<?>> all() {
        List<Class<?>> all = new ArrayList<>(QueryCommands.all());
        all.addAll(LifecycleCommands.all());
        all.addAll(StreamCommands.all());
        return all;
    }

    /** Adds the client commands to {@code berth}. */
    public static void addTo(CommandLine berth) {
        for (Class<?> c : all()) {
            CommandLine sub = new CommandLine(c);
            sub.getCommandSpec().usageMessage().exitCodeListHeading("%nExit codes:%n").exitCodeList(ExitCodes.help());
            berth.addSubcommand(sub);
        }
    }

    /** The exit code and message for a client command's failure, or null when it is not one of the client's. */
    public static Integer handle(Exception e, CommandLine cmd) {
        if (e instanceof ClientException c) {
            cmd.getErr().println("berth " + cmd.getCommandName() + ": " + c.getMessage());
            return c.exitCode();
        }
        if (e instanceof StatusRuntimeException s) {
            String what = s.getStatus().getDescription() == null ? "" : ": " + s.getStatus().getDescription();
            cmd.getErr().println("berth " + cmd.getCommandName() + ": " + s.getStatus().getCode() + what);
            return ExitCodes.of(s);
        }
        return null;
    }
}
