package dev.berth.cli.client;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.RemoveImageRequest;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth rmi}: RemoveImage by reference, ID or ID prefix; every image, or those no container uses. */
@Command(name = "rmi", mixinStandardHelpOptions = true, description = {"Remove images.",
        "Each IMAGE is a reference, an image ID or a unique ID prefix. Prints \"Deleted: REF\" for each of the image's tags "
                + "(its ID when it has none), as crictl does. An image that is not there is exit code 3; the others are still removed."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth rmi busybox:1.36",
                "  berth rmi 3f57d9401f8d",
                "  berth rmi --prune        # every image no container (running or not) uses",
                "  berth rmi -a             # every image"})
final class RmiCommand implements Callable<Integer> {
    @Mixin
    ClientOptions options;
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "IMAGE", arity = "0..*", description = "images to remove")
    List<String> images = new ArrayList<>();

    @Option(names = {"-a", "--all"}, description = "remove every image")
    boolean all;

    @Option(names = {"-q", "--prune"}, description = "remove every image that no container uses")
    boolean prune;

    @Override
    public Integer call() {
        if (images.isEmpty() == !(all || prune) || all && prune) {
            throw ClientException.usage(images.isEmpty() && !all && !prune ? "name at least one image, or give --all or --prune"
                    : "give images, --all or --prune, only one of them");
        }
        PrintWriter out = spec.commandLine().getOut();
        try (CriSession cri = options.connect()) {
            Map<String, Image> targets = new LinkedHashMap<>();
            ClientException firstMissing = null;
            if (all || prune) {
                Set<String> used = prune ? usedImages(cri) : Set.of();
                for (Image i : cri.images().listImages(ListImagesRequest.getDefaultInstance()).getImagesList()) {
                    if (!used.contains(i.getId()) && i.getRepoTagsList().stream().noneMatch(used::contains)
                            && i.getRepoDigestsList().stream().noneMatch(used::contains)) {
                        targets.put(i.getId(), i);
                    }
                }
            } else {
                for (String what : images) {
                    try {
                        Image i = Resolve.image(cri, what);
                        targets.put(i.getId(), i);
                    } catch (ClientException e) {
                        spec.commandLine().getErr().println("berth rmi: " + e.getMessage());
                        firstMissing = firstMissing == null ? e : firstMissing;
                    }
                }
            }
            int code = ExitCodes.OK;
            for (Image i : targets.values()) {
                try {
                    cri.images().removeImage(RemoveImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(i.getId())).build());
                } catch (StatusRuntimeException e) {
                    spec.commandLine().getErr().println("berth rmi: " + i.getId() + ": " + e.getStatus().getCode() + " "
                            + e.getStatus().getDescription());
                    code = code == ExitCodes.OK ? ExitCodes.of(e) : code;
                    continue;
                }
                if (i.getRepoTagsCount() == 0) {
                    out.println("Deleted: " + i.getId());
                }
                for (String tag : i.getRepoTagsList()) {
                    out.println("Deleted: " + tag);
                }
            }
            if (firstMissing != null && code == ExitCodes.OK) {
                code = firstMissing.exitCode();
            }
            return code;
        }
    }

    /** The IDs (and references) of the images of every container, whatever its state. */
    static Set<String> usedImages(CriSession cri) {
        Set<String> used = new HashSet<>();
        for (Container c : cri.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
            used.add(c.getImageRef());
            used.add(c.getImage().getImage());
            if (!c.getImageId().isEmpty()) {
                used.add(c.getImageId());
            }
        }
        return used;
    }
}
