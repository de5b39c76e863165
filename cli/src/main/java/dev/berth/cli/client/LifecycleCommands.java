package dev.berth.cli.client;

import java.util.List;

/** The CRI client's pull, rmi, runp, create, start, run, stop, rm, stopp, rmp commands, in the order --help lists them. */
final class LifecycleCommands {
    private LifecycleCommands() {
    }

    static List<Class<?>> all() {
        return List.of(PullCommand.class, RmiCommand.class, RunpCommand.class, CreateCommand.class, StartCommand.class, RunCommand.class,
                StopCommand.class, RmCommand.class, StoppCommand.class, RmpCommand.class);
    }
}
