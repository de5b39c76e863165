package dev.berth.cli.client;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.berth.cri.v1.ContainerEventResponse;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.GetEventsRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code berth events}: follows the runtime's container events (CRI GetContainerEvents) and
 * prints one line per event. The client asks for one event at a time (gRPC flow control), so a
 * slow terminal holds the stream back instead of filling memory.
 */
@Command(name = "events", mixinStandardHelpOptions = true,
        description = {"Follow container and pod events (CRI GetContainerEvents) until Ctrl-C, the runtime ends the stream, or --count events.",
            "A line: TIME TYPE ID NAME pod POD-ID (NAMESPACE/POD-NAME); a pod's own events show (sandbox) as their name.",
            "With -o json each event is one JSON object on one line (the ContainerEventResponse, every field)."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth events",
            "  berth events --count 1",
            "  berth events -o json | jq -r 'select(.containerEventType == \"CONTAINER_STOPPED_EVENT\") | .containerId'"})
final class EventsCommand implements Callable<Integer> {
    static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSXXX");
    /** Compact JSON: one event per line. */
    static final ObjectMapper LINE = new ObjectMapper();
    /** Marks the end of the stream in the queue. */
    private static final Object END = new Object();

    @Mixin
    ClientOptions options;

    @Spec
    CommandSpec spec;

    @Option(names = "--count", paramLabel = "N", description = "stop after N events (default: follow until Ctrl-C)")
    int count;

    @Option(names = "--no-trunc", description = "show whole IDs")
    boolean noTrunc;

    @Option(names = {"-o", "--output"}, paramLabel = "FORMAT", converter = Listing.FormatConverter.class, defaultValue = "table",
            description = "table (one line per event) or json (one object per line; default: table)")
    Output.Format format;

    @Override
    public Integer call() throws InterruptedException {
        if (format == Output.Format.YAML) {
            throw ClientException.usage("events prints table or json lines");
        }
        if (count < 0) {
            throw ClientException.usage("--count must not be negative");
        }
        PrintWriter out = spec.commandLine().getOut();
        ZoneId zone = ZoneId.systemDefault();
        BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
        ClientCallStreamObserver<?>[] call = new ClientCallStreamObserver<?>[1];
        try (CriSession cri = options.connect()) {
            cri.runtimeAsync().getContainerEvents(GetEventsRequest.getDefaultInstance(), new ClientResponseObserver<GetEventsRequest, ContainerEventResponse>() {
                @Override
                public void beforeStart(ClientCallStreamObserver<GetEventsRequest> c) {
                    c.disableAutoRequestWithInitial(1);
                    call[0] = c;
                }

                @Override
                public void onNext(ContainerEventResponse e) {
                    queue.add(e);
                }

                @Override
                public void onError(Throwable t) {
                    queue.add(t);
                }

                @Override
                public void onCompleted() {
                    queue.add(END);
                }
            });
            int seen = 0;
            try {
                while (count == 0 || seen < count) {
                    Object o = queue.take();
                    if (o == END) {
                        break;
                    }
                    if (o instanceof Throwable t) {
                        throw failure(t);
                    }
                    ContainerEventResponse e = (ContainerEventResponse) o;
                    out.println(format == Output.Format.JSON ? json(e) : line(e, zone, noTrunc));
                    out.flush();
                    seen++;
                    call[0].request(1);
                }
            } finally {
                call[0].cancel("berth events is done", null);
            }
        }
        return ExitCodes.OK;
    }

    private static RuntimeException failure(Throwable t) {
        if (t instanceof StatusRuntimeException s && s.getStatus().getCode() == Status.Code.UNIMPLEMENTED) {
            return new ClientException(ExitCodes.UNIMPLEMENTED, "the runtime does not implement container events (GetContainerEvents)", t);
        }
        if (t instanceof RuntimeException r) {
            return r;
        }
        return Status.fromThrowable(t).asRuntimeException();
    }

    static String json(ContainerEventResponse e) {
        try {
            return LINE.writeValueAsString(Output.tree(e));
        } catch (JsonProcessingException x) {
            throw new UncheckedIOException(x);
        }
    }

    /** TIME TYPE ID NAME pod POD-ID (NAMESPACE/POD-NAME), the runtime's strings cleaned of control characters. */
    static String line(ContainerEventResponse e, ZoneId zone, boolean noTrunc) {
        String type = e.getContainerEventType().name().replaceFirst("^CONTAINER_", "").replaceFirst("_EVENT$", "");
        String podId = e.getPodSandboxStatus().getId();
        String name;
        if (!podId.isEmpty() && podId.equals(e.getContainerId())) {
            name = "(sandbox)";
        } else {
            name = e.getContainersStatusesList().stream().filter(s -> s.getId().equals(e.getContainerId())).findFirst()
                    .map(ContainerStatus::getMetadata).map(m -> m.getName()).orElse("-");
        }
        String pod = podId.isEmpty() ? "-" : Listing.id(podId, noTrunc) + " (" + Listing.text(e.getPodSandboxStatus().getMetadata().getNamespace()) + "/"
                + Listing.text(e.getPodSandboxStatus().getMetadata().getName()) + ")";
        String time = TIME.format(Instant.ofEpochSecond(0, e.getCreatedAt()).atZone(zone));
        return Table.clean(String.format("%s  %-7s  %-13s  %s  pod %s", time, type, Listing.text(Listing.id(e.getContainerId(), noTrunc)),
                Listing.text(name), pod));
    }
}
