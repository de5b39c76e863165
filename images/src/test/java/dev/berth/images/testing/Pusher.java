package dev.berth.images.testing;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** Pushes blobs and manifests through the registry HTTP API (monolithic uploads), as tests need them. */
public final class Pusher {
    private final String base;
    private final String auth;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    Pusher(String base, String auth) {
        this.base = base;
        this.auth = auth;
    }

    public static String sha256(byte[] b) {
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private HttpRequest.Builder req(URI uri) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri);
        if (auth != null) {
            b.header("Authorization", auth);
        }
        return b;
    }

    /** Uploads a blob (if the registry lacks it) and returns its digest. */
    public String blob(String repo, byte[] content) throws IOException, InterruptedException {
        String digest = sha256(content);
        HttpResponse<String> start = http.send(req(URI.create(base + "/v2/" + repo + "/blobs/uploads/"))
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        if (start.statusCode() != 202) {
            throw new IOException("starting upload to " + repo + ": HTTP " + start.statusCode() + " " + start.body());
        }
        String location = start.headers().firstValue("Location").orElseThrow();
        URI uri = URI.create(base).resolve(location);
        String put = uri + (uri.getQuery() == null ? "?" : "&") + "digest=" + digest;
        HttpResponse<String> done = http.send(req(URI.create(put)).header("Content-Type", "application/octet-stream")
                .PUT(HttpRequest.BodyPublishers.ofByteArray(content)).build(), HttpResponse.BodyHandlers.ofString());
        if (done.statusCode() != 201) {
            throw new IOException("uploading blob to " + repo + ": HTTP " + done.statusCode() + " " + done.body());
        }
        return digest;
    }

    /** Puts a manifest (or index) under a tag or its digest and returns its digest. */
    public String manifest(String repo, String reference, String mediaType, byte[] content) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(req(URI.create(base + "/v2/" + repo + "/manifests/" + reference))
                .header("Content-Type", mediaType).PUT(HttpRequest.BodyPublishers.ofByteArray(content)).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 201) {
            throw new IOException("putting manifest " + repo + ":" + reference + ": HTTP " + r.statusCode() + " " + r.body());
        }
        return sha256(content);
    }

    public static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
