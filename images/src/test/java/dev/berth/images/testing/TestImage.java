package dev.berth.images.testing;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** Builds an image (config + manifest) from test layers and pushes it to a registry. */
public final class TestImage {
    public static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    public static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
    public static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
    public static final String DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

    /** What a push produced. */
    public record Pushed(String manifestDigest, int manifestSize, String configDigest, int configSize, List<TestLayer.Built> layers) {
    }

    private final List<TestLayer.Built> layers = new ArrayList<>();
    private String user = "";
    private String os = "linux";
    private String arch = "amd64";
    private String variant = "";
    private boolean docker;

    public static TestImage of(TestLayer.Built... layers) {
        TestImage i = new TestImage();
        i.layers.addAll(List.of(layers));
        return i;
    }

    public TestImage user(String u) {
        this.user = u;
        return this;
    }

    public TestImage platform(String os, String arch, String variant) {
        this.os = os;
        this.arch = arch;
        this.variant = variant;
        return this;
    }

    /** Docker schema 2 media types instead of OCI ones. */
    public TestImage docker() {
        this.docker = true;
        return this;
    }

    public byte[] config() {
        StringBuilder diffIds = new StringBuilder();
        for (TestLayer.Built l : layers) {
            diffIds.append(diffIds.length() == 0 ? "" : ",").append('"').append(l.diffId()).append('"');
        }
        return Pusher.utf8("{\"architecture\":\"" + arch + "\",\"os\":\"" + os + "\""
                + (variant.isEmpty() ? "" : ",\"variant\":\"" + variant + "\"")
                + ",\"config\":{\"User\":\"" + user + "\",\"Cmd\":[\"/bin/sh\"],\"Env\":[\"PATH=/bin\"]}"
                + ",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" + diffIds + "]}}");
    }

    public Pushed push(Pusher p, String repo, String tag) throws IOException, InterruptedException {
        byte[] config = config();
        String configDigest = p.blob(repo, config);
        StringBuilder ls = new StringBuilder();
        for (TestLayer.Built l : layers) {
            p.blob(repo, l.blob());
            String mt = docker ? "application/vnd.docker.image.rootfs.diff.tar.gzip" : l.mediaType();
            ls.append(ls.length() == 0 ? "" : ",").append("{\"mediaType\":\"").append(mt).append("\",\"digest\":\"")
                    .append(l.digest()).append("\",\"size\":").append(l.blob().length).append('}');
        }
        String mediaType = docker ? DOCKER_MANIFEST : OCI_MANIFEST;
        String configType = docker ? "application/vnd.docker.container.image.v1+json" : "application/vnd.oci.image.config.v1+json";
        byte[] manifest = Pusher.utf8("{\"schemaVersion\":2,\"mediaType\":\"" + mediaType + "\",\"config\":{\"mediaType\":\"" + configType
                + "\",\"digest\":\"" + configDigest + "\",\"size\":" + config.length + "},\"layers\":[" + ls + "]}");
        String digest = p.manifest(repo, tag == null ? Pusher.sha256(manifest) : tag, mediaType, manifest);
        return new Pushed(digest, manifest.length, configDigest, config.length, List.copyOf(layers));
    }

    /** Pushes an index over already pushed manifests, each given as {platform "os/arch[/variant]", pushed}. */
    public static String pushIndex(Pusher p, String repo, String tag, boolean docker, List<Object[]> entries) throws IOException, InterruptedException {
        StringBuilder ms = new StringBuilder();
        for (Object[] e : entries) {
            String[] plat = ((String) e[0]).split("/");
            Pushed pushed = (Pushed) e[1];
            ms.append(ms.length() == 0 ? "" : ",").append("{\"mediaType\":\"").append(docker ? DOCKER_MANIFEST : OCI_MANIFEST)
                    .append("\",\"digest\":\"").append(pushed.manifestDigest()).append("\",\"size\":").append(pushed.manifestSize())
                    .append(",\"platform\":{\"os\":\"").append(plat[0]).append("\",\"architecture\":\"").append(plat[1]).append('"')
                    .append(plat.length > 2 ? ",\"variant\":\"" + plat[2] + "\"" : "").append("}}");
        }
        String mt = docker ? DOCKER_LIST : OCI_INDEX;
        byte[] index = Pusher.utf8("{\"schemaVersion\":2,\"mediaType\":\"" + mt + "\",\"manifests\":[" + ms + "]}");
        return p.manifest(repo, tag, mt, index);
    }

    /** Writes this image as a {@code docker save} archive (uncompressed layers must have been built with Compression.NONE). */
    public void writeDockerSave(java.nio.file.Path file, String repoTag) throws IOException {
        byte[] config = config();
        String configName = Pusher.sha256(config).substring(7) + ".json";
        StringBuilder names = new StringBuilder();
        java.util.Map<String, byte[]> files = new java.util.LinkedHashMap<>();
        for (int i = 0; i < layers.size(); i++) {
            String n = "layer" + i + "/layer.tar";
            names.append(i == 0 ? "" : ",").append('"').append(n).append('"');
            files.put(n, layers.get(i).blob());
        }
        files.put(configName, config);
        files.put("manifest.json", Pusher.utf8("[{\"Config\":\"" + configName + "\",\"RepoTags\":[\"" + repoTag + "\"],\"Layers\":[" + names + "]}]"));
        try (org.apache.commons.compress.archivers.tar.TarArchiveOutputStream out =
                     new org.apache.commons.compress.archivers.tar.TarArchiveOutputStream(java.nio.file.Files.newOutputStream(file))) {
            for (java.util.Map.Entry<String, byte[]> e : files.entrySet()) {
                org.apache.commons.compress.archivers.tar.TarArchiveEntry t = new org.apache.commons.compress.archivers.tar.TarArchiveEntry(e.getKey());
                t.setSize(e.getValue().length);
                out.putArchiveEntry(t);
                out.write(e.getValue());
                out.closeArchiveEntry();
            }
        }
    }
}
