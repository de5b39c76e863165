package dev.berth.cli.client;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStateValue;
import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListContainersResponse;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import java.io.PrintWriter;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code berth ps}: the containers (CRI ListContainers), newest first, with crictl's columns and filters. */
@Command(name = "ps", mixinStandardHelpOptions = true,
        description = {"List containers, newest first: CONTAINER, IMAGE, CREATED, STATE, NAME, ATTEMPT, POD ID, POD.",
            "Only running containers unless -a, --state, --latest or --last is given. Filters combine."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth ps",
            "  berth ps -a --pod web",
            "  berth ps --state exited --label app=web -q",
            "  berth ps --name '^sidecar' --image docker.io/library/busybox:1.36",
            "  berth ps -a -o json | jq -r '.containers[].id'"})
final class PsCommand implements Callable<Integer> {
    /** The label the kubelet gives a container with its pod's name; crictl's POD column shows it. */
    static final String POD_NAME_LABEL = "io.kubernetes.pod.name";

    @Mixin
    ClientOptions options;

    @Spec
    CommandSpec spec;

    @Option(names = {"-a", "--all"}, description = "containers in every state, not only running ones")
    boolean all;

    @Option(names = {"-p", "--pod"}, paramLabel = "POD", description = "containers of this pod (ID, unique ID prefix or name)")
    String pod;

    @Option(names = "--label", paramLabel = "KEY=VALUE", description = "containers with this label (repeatable: all of them)")
    List<String> labels;

    @Option(names = {"-s", "--state"}, paramLabel = "STATE", description = "created, running, exited or unknown")
    String state;

    @Option(names = "--name", paramLabel = "REGEXP", description = "containers whose name matches this regular expression")
    String name;

    @Option(names = "--id", paramLabel = "ID", description = "the container with this ID or ID prefix")
    String id;

    @Option(names = "--image", paramLabel = "IMAGE", description = "containers of this image (reference or ID)")
    String image;

    @Option(names = {"-q", "--quiet"}, description = "print the full IDs only, one a line")
    boolean quiet;

    @Option(names = "--no-trunc", description = "show whole IDs and image digests")
    boolean noTrunc;

    @Option(names = {"-l", "--latest"}, description = "only the newest container (in any state)")
    boolean latest;

    @Option(names = "--last", paramLabel = "N", description = "only the N newest containers (in any state)")
    int last;

    @Option(names = {"-o", "--output"}, paramLabel = "FORMAT", converter = Listing.FormatConverter.class, defaultValue = "table",
            description = "table, json or yaml (json and yaml: the ListContainers response with the containers listed; default: table)")
    Output.Format format;

    @Override
    public Integer call() {
        Map<String, String> selector = Listing.labels(labels);
        Pattern nameRe = Listing.regex("--name", name);
        ContainerFilter.Builder filter = ContainerFilter.newBuilder().putAllLabelSelector(selector);
        ContainerState wanted = state == null ? null : state(state);
        if (wanted != null) {
            filter.setState(ContainerStateValue.newBuilder().setState(wanted));
        } else if (!all && !latest && last <= 0) {
            filter.setState(ContainerStateValue.newBuilder().setState(ContainerState.CONTAINER_RUNNING));
        }
        List<Container> containers;
        Map<String, String> podNames = new HashMap<>();
        try (CriSession cri = options.connect()) {
            if (pod != null) {
                filter.setPodSandboxId(Resolve.pod(cri, pod));
            }
            Predicate<Container> ofImage = image == null ? c -> true : ofImage(cri, image);
            List<Container> listed = cri.runtime().listContainers(ListContainersRequest.newBuilder().setFilter(filter).build()).getContainersList();
            containers = select(listed.stream().filter(ofImage).toList(), id, nameRe, filter.getState().getState(), filter.hasState(), selector,
                    filter.getPodSandboxId(), latest, last);
            if (!quiet && format == Output.Format.TABLE && containers.stream().anyMatch(c -> !c.getLabelsMap().containsKey(POD_NAME_LABEL))) {
                for (PodSandbox p : cri.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                    podNames.put(p.getId(), p.getMetadata().getName());
                }
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        if (quiet) {
            containers.forEach(c -> out.println(Listing.text(c.getId())));
        } else if (format == Output.Format.TABLE) {
            table(containers, podNames, noTrunc, System.currentTimeMillis()).print(out);
        } else {
            Output.print(out, format, ListContainersResponse.newBuilder().addAllContainers(containers).build());
        }
        out.flush();
        return ExitCodes.OK;
    }

    static ContainerState state(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "created" -> ContainerState.CONTAINER_CREATED;
            case "running" -> ContainerState.CONTAINER_RUNNING;
            case "exited" -> ContainerState.CONTAINER_EXITED;
            case "unknown" -> ContainerState.CONTAINER_UNKNOWN;
            default -> throw ClientException.usage("--state is created, running, exited or unknown, got \"" + s + "\"");
        };
    }

    /**
     * Whether a container runs {@code image}: the image the runtime knows by that name (its ID,
     * references) against the container's image, image reference and image ID; an image the
     * runtime does not know matches only containers that name it exactly.
     */
    static Predicate<Container> ofImage(CriSession cri, String image) {
        Image known = cri.images().imageStatus(ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(image)).build()).getImage();
        return c -> runs(c, image, known.getId().isEmpty() ? null : known);
    }

    static boolean runs(Container c, String image, Image known) {
        List<String> names = List.of(c.getImage().getImage(), c.getImageRef(), c.getImageId());
        if (names.contains(image)) {
            return true;
        }
        if (known == null) {
            return false;
        }
        String bareId = bare(known.getId());
        return names.stream().anyMatch(n -> !n.isEmpty() && (bare(n).equals(bareId) || known.getRepoTagsList().contains(n)
                || known.getRepoDigestsList().contains(n)));
    }

    private static String bare(String id) {
        return id.startsWith("sha256:") ? id.substring("sha256:".length()) : id;
    }

    /**
     * The containers that pass the client-side filters (ID prefix, name pattern, and state, labels
     * and pod again, for a runtime that ignores the filter), newest first, cut by latest/last.
     */
    static List<Container> select(List<Container> all, String idPrefix, Pattern name, ContainerState state, boolean byState,
                                  Map<String, String> labels, String podId, boolean latest, int last) {
        List<Container> kept = all.stream()
                .filter(c -> idPrefix == null || c.getId().startsWith(idPrefix))
                .filter(c -> Listing.matches(name, c.getMetadata().getName()))
                .filter(c -> !byState || c.getState() == state)
                .filter(c -> podId.isEmpty() || c.getPodSandboxId().equals(podId))
                .filter(c -> Listing.hasLabels(c.getLabelsMap(), labels))
                .toList();
        return Listing.newestFirst(kept, Container::getCreatedAt, latest, last);
    }

    /** The table; POD is the kubelet's pod-name label, else the pod's own name from {@code podNames}, else "unknown". */
    static Table table(List<Container> containers, Map<String, String> podNames, boolean noTrunc, long nowMillis) {
        Table t = new Table("CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD");
        for (Container c : containers) {
            String podName = c.getLabelsMap().getOrDefault(POD_NAME_LABEL, podNames.getOrDefault(c.getPodSandboxId(), "unknown"));
            t.row(Listing.id(c.getId(), noTrunc), Listing.image(c.getImage().getImage(), noTrunc), Output.ago(c.getCreatedAt(), nowMillis),
                    state(c.getState()), c.getMetadata().getName(), c.getMetadata().getAttempt(), Listing.id(c.getPodSandboxId(), noTrunc), podName);
        }
        return t;
    }

    static String state(ContainerState s) {
        return switch (s) {
            case CONTAINER_CREATED -> "Created";
            case CONTAINER_RUNNING -> "Running";
            case CONTAINER_EXITED -> "Exited";
            default -> "Unknown";
        };
    }
}
