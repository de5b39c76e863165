package dev.berth.cli.client;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ImageStatusResponse;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import java.util.List;
import java.util.function.Function;

/**
 * Turns what a user typed into a CRI ID, as crictl and podman accept it: a full ID, a unique
 * prefix of one, or a name (a container's or pod's metadata name; an image reference or ID).
 * Nothing found, or more than one match, is {@link ExitCodes#NOT_FOUND}.
 */
public final class Resolve {
    private Resolve() {
    }

    /** The ID of the container {@code what} names. */
    public static String container(CriSession cri, String what) {
        List<Container> all = cri.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList();
        return pick("container", what, all, Container::getId, c -> c.getMetadata().getName());
    }

    /** The ID of the pod sandbox {@code what} names. */
    public static String pod(CriSession cri, String what) {
        List<PodSandbox> all = cri.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList();
        return pick("pod", what, all, PodSandbox::getId, p -> p.getMetadata().getName());
    }

    /** The image {@code what} names: a reference the runtime knows (ImageStatus), else a unique image ID or ID prefix. */
    public static Image image(CriSession cri, String what) {
        ImageStatusResponse s = cri.images().imageStatus(ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(what)).build());
        if (s.hasImage() && !s.getImage().getId().isEmpty()) {
            return s.getImage();
        }
        List<Image> all = cri.images().listImages(ListImagesRequest.getDefaultInstance()).getImagesList();
        String id = pick("image", what, all, Image::getId, i -> null);
        return all.stream().filter(i -> i.getId().equals(id)).findFirst().orElseThrow();
    }

    static <T> String pick(String kind, String what, List<T> all, Function<T, String> id, Function<T, String> name) {
        if (what == null || what.isEmpty()) {
            throw ClientException.usage("no " + kind + " named");
        }
        String bare = what.startsWith("sha256:") ? what.substring("sha256:".length()) : what;
        String found = null;
        int prefixMatches = 0;
        for (T t : all) {
            String i = id.apply(t);
            String iBare = i.startsWith("sha256:") ? i.substring("sha256:".length()) : i;
            if (i.equals(what) || iBare.equals(bare)) {
                return i;
            }
            if (iBare.startsWith(bare)) {
                found = i;
                prefixMatches++;
            }
        }
        if (prefixMatches == 1) {
            return found;
        }
        if (prefixMatches > 1) {
            throw ClientException.notFound(kind + " ID prefix \"" + what + "\" matches " + prefixMatches + " " + kind + "s; give more of it");
        }
        String byName = null;
        int nameMatches = 0;
        for (T t : all) {
            if (what.equals(name.apply(t))) {
                byName = id.apply(t);
                nameMatches++;
            }
        }
        if (nameMatches == 1) {
            return byName;
        }
        if (nameMatches > 1) {
            throw ClientException.notFound(nameMatches + " " + kind + "s are named \"" + what + "\"; use an ID");
        }
        throw ClientException.notFound("no such " + kind + ": " + what);
    }
}
