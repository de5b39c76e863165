package dev.berth.cli.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.MessageOrBuilder;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ContainerStatusResponse;
import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ImageStatusResponse;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.PodSandboxStatusResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code berth inspect}, {@code inspectp}, {@code inspecti}: a container's, pod's or image's
 * verbose status as crictl prints it, {"status": ..., and each verbose info entry with its JSON
 * value parsed}. One name gives one object, several an array. Names that match nothing are
 * reported on stderr after the others are printed, and the command exits with NOT_FOUND.
 */
final class InspectCommands {
    private InspectCommands() {
    }

    /** What every inspect command shares: the names, the format, and printing what was found. */
    abstract static class Base implements Callable<Integer> {
        @Mixin
        ClientOptions options;

        @Spec
        CommandSpec spec;

        @Option(names = {"-o", "--output"}, paramLabel = "FORMAT", converter = Listing.FormatConverter.class, defaultValue = "json",
                description = "json or yaml (default: json)")
        Output.Format format;

        abstract List<String> names();

        /** The verbose status of what {@code name} names, as printed. */
        abstract JsonNode inspect(CriSession cri, String name);

        @Override
        public Integer call() {
            if (format == Output.Format.TABLE) {
                throw ClientException.usage(spec.name() + " prints json or yaml");
            }
            List<JsonNode> found = new ArrayList<>();
            List<String> missing = new ArrayList<>();
            try (CriSession cri = options.connect()) {
                for (String name : names()) {
                    try {
                        found.add(inspect(cri, name));
                    } catch (ClientException e) {
                        if (e.exitCode() != ExitCodes.NOT_FOUND) {
                            throw e;
                        }
                        missing.add(e.getMessage());
                    } catch (StatusRuntimeException e) {
                        if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                            throw e;
                        }
                        missing.add("no such " + kind() + ": " + name);
                    }
                }
            }
            PrintWriter out = spec.commandLine().getOut();
            if (!found.isEmpty()) {
                Output.print(out, format, names().size() == 1 ? found.get(0) : array(found));
            }
            out.flush();
            PrintWriter err = spec.commandLine().getErr();
            missing.forEach(m -> err.println("berth " + spec.name() + ": " + m));
            err.flush();
            return missing.isEmpty() ? ExitCodes.OK : ExitCodes.NOT_FOUND;
        }

        abstract String kind();

        private static ArrayNode array(List<JsonNode> nodes) {
            ArrayNode a = Output.JSON.createArrayNode();
            nodes.forEach(a::add);
            return a;
        }
    }

    /** {"status": the message's status, then each info entry, parsed}. */
    static ObjectNode statusInfo(MessageOrBuilder status, Map<String, String> info) {
        ObjectNode n = Output.JSON.createObjectNode();
        n.set("status", Output.tree(status));
        InfoCommand.putInfo(n, info);
        return n;
    }

    @Command(name = "inspect", mixinStandardHelpOptions = true,
            description = {"Show containers' verbose status (CRI ContainerStatus with verbose): {\"status\": ..., \"info\": ...}.",
                "A container is named by ID, unique ID prefix or name; several give a JSON array."},
            footerHeading = "%nExamples:%n",
            footer = {"  berth inspect 3f2a",
                "  berth inspect web sidecar -o yaml",
                "  berth inspect 3f2a | jq -r '.info.pid'"})
    static final class Inspect extends Base {
        @Parameters(arity = "1..*", paramLabel = "CONTAINER", description = "containers by ID, unique ID prefix or name")
        List<String> containers;

        @Override
        List<String> names() {
            return containers;
        }

        @Override
        String kind() {
            return "container";
        }

        @Override
        JsonNode inspect(CriSession cri, String name) {
            String id = Resolve.container(cri, name);
            ContainerStatusResponse r = cri.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).setVerbose(true).build());
            return statusInfo(r.getStatus(), r.getInfoMap());
        }
    }

    @Command(name = "inspectp", mixinStandardHelpOptions = true,
            description = {"Show pods' verbose status (CRI PodSandboxStatus with verbose): {\"status\": ..., \"info\": ...}.",
                "A pod is named by ID, unique ID prefix or name; several give a JSON array."},
            footerHeading = "%nExamples:%n",
            footer = {"  berth inspectp web",
                "  berth inspectp 9c1e -o yaml",
                "  berth inspectp web | jq -r '.status.network.ip'"})
    static final class Inspectp extends Base {
        @Parameters(arity = "1..*", paramLabel = "POD", description = "pods by ID, unique ID prefix or name")
        List<String> pods;

        @Override
        List<String> names() {
            return pods;
        }

        @Override
        String kind() {
            return "pod";
        }

        @Override
        JsonNode inspect(CriSession cri, String name) {
            String id = Resolve.pod(cri, name);
            PodSandboxStatusResponse r = cri.runtime().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(id).setVerbose(true).build());
            ObjectNode n = statusInfo(r.getStatus(), r.getInfoMap());
            if (r.getContainersStatusesCount() > 0) {
                JsonNode whole = Output.tree(r);
                n.set("containersStatuses", whole.get("containersStatuses"));
            }
            return n;
        }
    }

    @Command(name = "inspecti", mixinStandardHelpOptions = true,
            description = {"Show images' verbose status (CRI ImageStatus with verbose): {\"status\": ..., \"info\": ...}.",
                "An image is named by reference, ID or unique ID prefix; several give a JSON array."},
            footerHeading = "%nExamples:%n",
            footer = {"  berth inspecti docker.io/library/busybox:1.36",
                "  berth inspecti 8135583d97fe -o yaml",
                "  berth inspecti busybox:1.36 | jq -r '.status.size'"})
    static final class Inspecti extends Base {
        @Parameters(arity = "1..*", paramLabel = "IMAGE", description = "images by reference, ID or unique ID prefix")
        List<String> images;

        @Override
        List<String> names() {
            return images;
        }

        @Override
        String kind() {
            return "image";
        }

        @Override
        JsonNode inspect(CriSession cri, String name) {
            Image image = Resolve.image(cri, name);
            ImageStatusResponse r = cri.images().imageStatus(ImageStatusRequest.newBuilder()
                    .setImage(ImageSpec.newBuilder().setImage(image.getId())).setVerbose(true).build());
            if (!r.hasImage() || r.getImage().getId().isEmpty()) {
                throw ClientException.notFound("no such image: " + name);
            }
            return statusInfo(r.getImage(), r.getInfoMap());
        }
    }
}
