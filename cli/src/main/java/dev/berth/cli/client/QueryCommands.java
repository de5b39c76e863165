package dev.berth.cli.client;

import java.util.List;

/** The CRI client's version, info, pods, ps, images, inspect, inspectp, inspecti, stats, events, completion commands, in the order --help lists them. */
final class QueryCommands {
    private QueryCommands() {
    }

    static List<Class<?>> all() {
        return List.of(VersionCommand.class, InfoCommand.class, PodsCommand.class, PsCommand.class, ImagesCommand.class,
                InspectCommands.Inspect.class, InspectCommands.Inspectp.class, InspectCommands.Inspecti.class,
                StatsCommand.class, EventsCommand.class, CompletionCommand.class);
    }
}
