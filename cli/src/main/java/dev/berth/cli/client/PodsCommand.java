package dev.berth.cli.client;

import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.ListPodSandboxResponse;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxFilter;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PodSandboxStateValue;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code berth pods}: the pod sandboxes (CRI ListPodSandbox), newest first, with crictl's columns and filters. */
@Command(name = "pods", mixinStandardHelpOptions = true,
        description = {"List pod sandboxes, newest first: POD ID, CREATED, STATE, NAME, NAMESPACE, ATTEMPT, RUNTIME.",
            "Filters combine: a pod is listed when it passes every one given."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth pods",
            "  berth pods --name '^web' --namespace default --state ready",
            "  berth pods --label app=web --label tier=front -q",
            "  berth pods --latest -o json | jq -r '.items[0].id'"})
final class PodsCommand implements Callable<Integer> {
    @Mixin
    ClientOptions options;

    @Spec
    CommandSpec spec;

    @Option(names = "--name", paramLabel = "REGEXP", description = "pods whose name matches this regular expression")
    String name;

    @Option(names = "--namespace", paramLabel = "REGEXP", description = "pods whose namespace matches this regular expression")
    String namespace;

    @Option(names = "--label", paramLabel = "KEY=VALUE", description = "pods with this label (repeatable: all of them)")
    List<String> labels;

    @Option(names = {"-s", "--state"}, paramLabel = "STATE", description = "ready or notready")
    String state;

    @Option(names = "--id", paramLabel = "ID", description = "the pod with this ID or ID prefix")
    String id;

    @Option(names = {"-q", "--quiet"}, description = "print the full IDs only, one a line")
    boolean quiet;

    @Option(names = "--no-trunc", description = "show whole IDs")
    boolean noTrunc;

    @Option(names = {"-l", "--latest"}, description = "only the newest pod")
    boolean latest;

    @Option(names = "--last", paramLabel = "N", description = "only the N newest pods")
    int last;

    @Option(names = {"-o", "--output"}, paramLabel = "FORMAT", converter = Listing.FormatConverter.class, defaultValue = "table",
            description = "table, json or yaml (json and yaml: the ListPodSandbox response with the pods listed; default: table)")
    Output.Format format;

    @Override
    public Integer call() {
        PodSandboxFilter.Builder filter = PodSandboxFilter.newBuilder().putAllLabelSelector(Listing.labels(labels));
        if (state != null) {
            filter.setState(PodSandboxStateValue.newBuilder().setState(state(state)));
        }
        Pattern nameRe = Listing.regex("--name", name);
        Pattern namespaceRe = Listing.regex("--namespace", namespace);
        List<PodSandbox> all;
        try (CriSession cri = options.connect()) {
            all = cri.runtime().listPodSandbox(ListPodSandboxRequest.newBuilder().setFilter(filter).build()).getItemsList();
        }
        List<PodSandbox> pods = select(all, id, nameRe, namespaceRe, state == null ? null : state(state), Listing.labels(labels), latest, last);
        PrintWriter out = spec.commandLine().getOut();
        if (quiet) {
            pods.forEach(p -> out.println(Listing.text(p.getId())));
        } else if (format == Output.Format.TABLE) {
            table(pods, noTrunc, System.currentTimeMillis()).print(out);
        } else {
            Output.print(out, format, ListPodSandboxResponse.newBuilder().addAllItems(pods).build());
        }
        out.flush();
        return ExitCodes.OK;
    }

    static PodSandboxState state(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "ready" -> PodSandboxState.SANDBOX_READY;
            case "notready" -> PodSandboxState.SANDBOX_NOTREADY;
            default -> throw ClientException.usage("--state is ready or notready, got \"" + s + "\"");
        };
    }

    /**
     * The pods that pass the client-side filters (ID prefix, name and namespace patterns, and
     * state and labels again, for a runtime that ignores the filter), newest first, cut by latest/last.
     */
    static List<PodSandbox> select(List<PodSandbox> all, String idPrefix, Pattern name, Pattern namespace, PodSandboxState state,
                                   Map<String, String> labels, boolean latest, int last) {
        List<PodSandbox> kept = all.stream()
                .filter(p -> idPrefix == null || p.getId().startsWith(idPrefix))
                .filter(p -> Listing.matches(name, p.getMetadata().getName()))
                .filter(p -> Listing.matches(namespace, p.getMetadata().getNamespace()))
                .filter(p -> state == null || p.getState() == state)
                .filter(p -> Listing.hasLabels(p.getLabelsMap(), labels))
                .toList();
        return Listing.newestFirst(kept, PodSandbox::getCreatedAt, latest, last);
    }

    static Table table(List<PodSandbox> pods, boolean noTrunc, long nowMillis) {
        Table t = new Table("POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME");
        for (PodSandbox p : pods) {
            t.row(Listing.id(p.getId(), noTrunc), Output.ago(p.getCreatedAt(), nowMillis), state(p.getState()), p.getMetadata().getName(),
                    p.getMetadata().getNamespace(), p.getMetadata().getAttempt(),
                    p.getRuntimeHandler().isEmpty() ? "(default)" : p.getRuntimeHandler());
        }
        return t;
    }

    static String state(PodSandboxState s) {
        return switch (s) {
            case SANDBOX_READY -> "Ready";
            case SANDBOX_NOTREADY -> "NotReady";
            default -> "Unknown";
        };
    }
}
