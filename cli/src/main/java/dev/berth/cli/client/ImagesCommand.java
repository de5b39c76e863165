package dev.berth.cli.client;

import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageFilter;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.ListImagesResponse;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth images}: the images (CRI ListImages), one row per tag, with crictl's columns. */
@Command(name = "images", mixinStandardHelpOptions = true,
        description = {"List images, one row per tag: IMAGE, TAG, IMAGE ID, SIZE (with --digests also DIGEST).",
            "An image without tags shows <none> as its tag (and its repository from its digest, if any)."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth images",
            "  berth images --digests docker.io/library/busybox:1.36",
            "  berth images -q",
            "  berth images -o json | jq -r '.images[] | .repoTags[]'"})
final class ImagesCommand implements Callable<Integer> {
    static final String NONE = "<none>";

    @Mixin
    ClientOptions options;

    @Spec
    CommandSpec spec;

    @Parameters(arity = "0..1", paramLabel = "IMAGE", description = "only this image (a reference the runtime resolves)")
    String image;

    @Option(names = "--digests", description = "show each image's repository digest")
    boolean digests;

    @Option(names = {"-q", "--quiet"}, description = "print the full image IDs only, one a line")
    boolean quiet;

    @Option(names = "--no-trunc", description = "show whole IDs and digests")
    boolean noTrunc;

    @Option(names = {"-o", "--output"}, paramLabel = "FORMAT", converter = Listing.FormatConverter.class, defaultValue = "table",
            description = "table, json or yaml (json and yaml: the ListImages response; default: table)")
    Output.Format format;

    @Override
    public Integer call() {
        ListImagesRequest.Builder request = ListImagesRequest.newBuilder();
        if (image != null && !image.isEmpty()) {
            request.setFilter(ImageFilter.newBuilder().setImage(ImageSpec.newBuilder().setImage(image)));
        }
        List<Image> images;
        try (CriSession cri = options.connect()) {
            images = sorted(cri.images().listImages(request.build()).getImagesList());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (quiet) {
            images.forEach(i -> out.println(Listing.text(i.getId())));
        } else if (format == Output.Format.TABLE) {
            table(images, digests, noTrunc).print(out);
        } else {
            Output.print(out, format, ListImagesResponse.newBuilder().addAllImages(images).build());
        }
        out.flush();
        return ExitCodes.OK;
    }

    /** By first tag (untagged ones last), then by ID: the order stays the same from one call to the next. */
    static List<Image> sorted(List<Image> images) {
        List<Image> s = new ArrayList<>(images);
        s.sort(Comparator.comparing((Image i) -> i.getRepoTagsCount() == 0 ? "\uffff" : i.getRepoTags(0)).thenComparing(Image::getId));
        return s;
    }

    static Table table(List<Image> images, boolean digests, boolean noTrunc) {
        Table t = digests ? new Table("IMAGE", "TAG", "DIGEST", "IMAGE ID", "SIZE") : new Table("IMAGE", "TAG", "IMAGE ID", "SIZE");
        for (Image i : images) {
            String[] repoDigest = repoDigest(i);
            String digest = repoDigest[1].equals(NONE) ? NONE : Listing.id(repoDigest[1], noTrunc);
            String id = Listing.id(i.getId(), noTrunc);
            String size = Output.size(i.getSize());
            for (String[] repoTag : repoTags(i, repoDigest[0])) {
                if (digests) {
                    t.row(repoTag[0], repoTag[1], digest, id, size);
                } else {
                    t.row(repoTag[0], repoTag[1], id, size);
                }
            }
        }
        return t;
    }

    /** The repository and digest of an image's first repo digest ({@code repo@sha256:...}), or two {@code <none>}. */
    static String[] repoDigest(Image i) {
        if (i.getRepoDigestsCount() == 0) {
            return new String[] {NONE, NONE};
        }
        String d = i.getRepoDigests(0);
        int at = d.indexOf('@');
        return at < 0 ? new String[] {NONE, d} : new String[] {d.substring(0, at), d.substring(at + 1)};
    }

    /** Each tag as repository and tag (the last ':' after the last '/'); an untagged image as its digest's repository and {@code <none>}. */
    static List<String[]> repoTags(Image i, String digestRepo) {
        List<String[]> pairs = new ArrayList<>();
        for (String rt : i.getRepoTagsList()) {
            int colon = rt.lastIndexOf(':');
            if (colon < 0 || colon < rt.lastIndexOf('/')) {
                pairs.add(new String[] {rt, NONE});
            } else {
                pairs.add(new String[] {rt.substring(0, colon), rt.substring(colon + 1)});
            }
        }
        if (pairs.isEmpty()) {
            pairs.add(new String[] {digestRepo, NONE});
        }
        return pairs;
    }
}
