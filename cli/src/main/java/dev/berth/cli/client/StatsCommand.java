package dev.berth.cli.client;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStateValue;
import dev.berth.cri.v1.ContainerStats;
import dev.berth.cri.v1.ContainerStatsFilter;
import dev.berth.cri.v1.ListContainerStatsRequest;
import dev.berth.cri.v1.ListContainerStatsResponse;
import dev.berth.cri.v1.ListContainersRequest;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code berth stats}: containers' resource usage (CRI ListContainerStats). CPU % is the
 * difference of two samples' cumulative CPU time over the time between them, so a table takes
 * one sample period; {@code --watch} redraws it every period.
 */
@Command(name = "stats", mixinStandardHelpOptions = true,
        description = {"Show containers' resource usage: CONTAINER, NAME, CPU %%, MEM (working set), DISK (writable layer), INODES.",
            "CPU %% is measured over --seconds between two samples. Running containers only, unless -a or containers are named.",
            "With --watch the table is redrawn each period on a terminal (printed again below otherwise) until Ctrl-C or --count tables."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth stats",
            "  berth stats -a --pod web",
            "  berth stats --watch",
            "  berth stats 3f2a --watch --count 5",
            "  berth stats -o json | jq '.stats[].memory.workingSetBytes.value'"})
final class StatsCommand implements Callable<Integer> {
    /** The terminal's "clear screen, cursor home", written before each redrawn table on a terminal. */
    static final String CLEAR = "\033[2J\033[H";

    @Mixin
    ClientOptions options;

    @Spec
    CommandSpec spec;

    @Parameters(arity = "0..*", paramLabel = "CONTAINER", description = "only these containers (ID, unique ID prefix or name)")
    List<String> containers;

    @Option(names = {"-a", "--all"}, description = "containers in every state, not only running ones")
    boolean all;

    @Option(names = {"-p", "--pod"}, paramLabel = "POD", description = "containers of this pod (ID, unique ID prefix or name)")
    String pod;

    @Option(names = "--label", paramLabel = "KEY=VALUE", description = "containers with this label (repeatable: all of them)")
    List<String> labels;

    @Option(names = {"-w", "--watch"}, description = "show the table again every period until Ctrl-C")
    boolean watch;

    @Option(names = "--count", paramLabel = "N", description = "stop after N tables (implies --watch when above 1)")
    int count;

    @Option(names = {"-s", "--seconds"}, paramLabel = "N", defaultValue = "1", description = "the sample period for CPU %% (default: 1)")
    int seconds;

    @Option(names = {"-o", "--output"}, paramLabel = "FORMAT", converter = Listing.FormatConverter.class, defaultValue = "table",
            description = "table, json or yaml (json and yaml: the ListContainerStats response, one sample; default: table)")
    Output.Format format;

    @Override
    public Integer call() throws InterruptedException {
        if (seconds < 1) {
            throw ClientException.usage("--seconds must be at least 1");
        }
        if (count < 0) {
            throw ClientException.usage("--count must not be negative");
        }
        boolean repeat = watch || count > 1;
        boolean terminal = System.console() != null;
        PrintWriter out = spec.commandLine().getOut();
        try (CriSession cri = options.connect()) {
            Set<String> named = new LinkedHashSet<>();
            if (containers != null) {
                for (String c : containers) {
                    named.add(Resolve.container(cri, c));
                }
            }
            ContainerStatsFilter.Builder filter = ContainerStatsFilter.newBuilder().putAllLabelSelector(Listing.labels(labels));
            if (pod != null) {
                filter.setPodSandboxId(Resolve.pod(cri, pod));
            }
            if (named.size() == 1) {
                filter.setId(named.iterator().next());
            }
            List<ContainerStats> previous = format == Output.Format.TABLE ? sample(cri, filter.build(), named) : null;
            for (int shown = 0; count == 0 || shown < count; shown++) {
                if (previous != null || shown > 0) {
                    Thread.sleep(seconds * 1000L);
                }
                List<ContainerStats> current = sample(cri, filter.build(), named);
                if (format == Output.Format.TABLE) {
                    if (repeat && terminal) {
                        out.print(CLEAR);
                    } else if (shown > 0) {
                        out.println();
                    }
                    table(previous, current).print(out);
                } else {
                    Output.print(out, format, ListContainerStatsResponse.newBuilder().addAllStats(current).build());
                }
                out.flush();
                previous = current;
                if (!repeat) {
                    break;
                }
            }
        }
        return ExitCodes.OK;
    }

    /** One ListContainerStats, cut to the named containers (or, unless -a, to the running ones). */
    private List<ContainerStats> sample(CriSession cri, ContainerStatsFilter filter, Set<String> named) {
        List<ContainerStats> stats = cri.runtime().listContainerStats(ListContainerStatsRequest.newBuilder().setFilter(filter).build()).getStatsList();
        Set<String> keep = named;
        if (keep.isEmpty() && !all) {
            ContainerFilter running = ContainerFilter.newBuilder().setState(ContainerStateValue.newBuilder().setState(ContainerState.CONTAINER_RUNNING))
                    .setPodSandboxId(filter.getPodSandboxId()).build();
            keep = cri.runtime().listContainers(ListContainersRequest.newBuilder().setFilter(running).build()).getContainersList().stream()
                    .filter(c -> c.getState() == ContainerState.CONTAINER_RUNNING).map(Container::getId).collect(Collectors.toSet());
        } else if (keep.isEmpty()) {
            return stats;
        }
        Set<String> k = keep;
        return stats.stream().filter(s -> k.contains(s.getAttributes().getId())).toList();
    }

    /** The table of {@code current}, CPU % against {@code previous} (null or lacking a container: "-"), sorted by name and ID. */
    static Table table(List<ContainerStats> previous, List<ContainerStats> current) {
        Map<String, ContainerStats> before = new HashMap<>();
        if (previous != null) {
            previous.forEach(s -> before.put(s.getAttributes().getId(), s));
        }
        List<ContainerStats> rows = new ArrayList<>(current);
        rows.sort(Comparator.comparing((ContainerStats s) -> s.getAttributes().getMetadata().getName()).thenComparing(s -> s.getAttributes().getId()));
        Table t = new Table("CONTAINER", "NAME", "CPU %", "MEM", "DISK", "INODES");
        for (ContainerStats s : rows) {
            t.row(Output.shortId(s.getAttributes().getId()), s.getAttributes().getMetadata().getName(), cpuPercent(before.get(s.getAttributes().getId()), s),
                    s.getMemory().hasWorkingSetBytes() ? Output.size(s.getMemory().getWorkingSetBytes().getValue()) : "-",
                    s.getWritableLayer().hasUsedBytes() ? Output.size(s.getWritableLayer().getUsedBytes().getValue()) : "-",
                    s.getWritableLayer().hasInodesUsed() ? String.valueOf(s.getWritableLayer().getInodesUsed().getValue()) : "-");
        }
        return t;
    }

    /** CPU time used between two samples over the time between them, in percent of one core ("-" when it cannot be told). */
    static String cpuPercent(ContainerStats before, ContainerStats now) {
        if (before == null || !before.getCpu().hasUsageCoreNanoSeconds() || !now.getCpu().hasUsageCoreNanoSeconds()) {
            return "-";
        }
        long dt = now.getCpu().getTimestamp() - before.getCpu().getTimestamp();
        long used = now.getCpu().getUsageCoreNanoSeconds().getValue() - before.getCpu().getUsageCoreNanoSeconds().getValue();
        if (dt <= 0 || used < 0) {
            return "-";
        }
        return String.format(Locale.ROOT, "%.2f", used * 100.0 / dt);
    }
}
