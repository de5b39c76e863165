package dev.berth.cli.client;

import java.util.List;

/** The CRI client's logs, exec, attach, port-forward commands, in the order --help lists them. */
final class StreamCommands {
    private StreamCommands() {
    }

    static List<Class<?>> all() {
        return List.of(LogsCommand.class, ExecCommand.class, AttachCommand.class, PortForwardCommand.class);
    }
}
