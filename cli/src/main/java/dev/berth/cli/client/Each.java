package dev.berth.cli.client;

import io.grpc.StatusRuntimeException;
import java.util.List;
import java.util.function.Function;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Runs a command's action on each object named, as crictl does: what succeeds prints its line
 * on stdout, what fails is reported on stderr and the others are still done; the exit code is
 * that of the first failure.
 */
final class Each {
    private Each() {
    }

    static int run(CommandSpec spec, List<String> names, Function<String, String> action) {
        int code = ExitCodes.OK;
        String cmd = spec.commandLine().getCommandName();
        for (String name : names) {
            try {
                String line = action.apply(name);
                if (line != null) {
                    spec.commandLine().getOut().println(line);
                }
            } catch (ClientException e) {
                spec.commandLine().getErr().println("berth " + cmd + ": " + e.getMessage());
                code = code == ExitCodes.OK ? e.exitCode() : code;
            } catch (StatusRuntimeException e) {
                spec.commandLine().getErr().println("berth " + cmd + ": " + name + ": " + ClientCommands.describe(e));
                code = code == ExitCodes.OK ? ExitCodes.of(e) : code;
            }
        }
        spec.commandLine().getOut().flush();
        return code;
    }
}
