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
    public static List<Class<?>> all() {
        List<Class<?>> all = new ArrayList<>(QueryCommands.all());
        all.addAll(LifecycleCommands.all());
        all.addAll(StreamCommands.all());
        return all;
    }

    /** Adds the exit-code table to a client command's --help (other commands are left as they are). */
    public static void describe(CommandLine command) {
        if (all().contains(command.getCommandSpec().userObject().getClass())) {
            command.getCommandSpec().usageMessage().exitCodeListHeading("%nExit codes:%n").exitCodeList(ExitCodes.help());
        }
    }

    /** The exit code and message for a client command's failure, or null when it is not one of the client's. */
    public static Integer handle(Exception e, CommandLine cmd) {
        if (e instanceof ClientException c) {
            cmd.getErr().println("berth " + cmd.getCommandName() + ": " + c.getMessage());
            return c.exitCode();
        }
        if (e instanceof StatusRuntimeException s) {
            cmd.getErr().println("berth " + cmd.getCommandName() + ": " + describe(s));
            return ExitCodes.of(s);
        }
        return null;
    }

    /**
     * A failed call as a user reads it: the status and its description, and for a connection that
     * failed (UNAVAILABLE with gRPC's bare "io exception") the reason the socket gave, such as a
     * socket only root may open.
     */
    static String describe(StatusRuntimeException s) {
        String what = s.getStatus().getDescription() == null ? "" : ": " + s.getStatus().getDescription();
        if (s.getStatus().getCode() == io.grpc.Status.Code.UNAVAILABLE && s.getCause() != null) {
            Throwable root = s.getCause();
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            String why = String.valueOf(root.getMessage());
            String hint = why.contains("Permission denied") ? " (the runtime's socket is open to root only: run berth as root)" : "";
            return "cannot reach the runtime: " + why + hint;
        }
        return s.getStatus().getCode() + what;
    }
}
