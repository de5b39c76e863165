package dev.berth.images.registry;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A small HTTP server on 127.0.0.1 that answers as a test scripts it and records every request
 * (path and headers): for what a real registry cannot be made to do (hostile token endpoints,
 * redirects to storage on another host, challenges from there, mirrors that ask for credentials).
 */
final class ScriptedServer implements AutoCloseable {
    /** One request as received. */
    record Seen(String method, String path, Headers headers) {
        String header(String name) {
            String v = headers.getFirst(name);
            return v == null ? "" : v;
        }
    }

    interface Script {
        void answer(HttpExchange ex) throws IOException;
    }

    /** A minimal OCI image manifest, as a registry serves it for any tag. */
    static final byte[] MANIFEST = ("{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\","
            + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:"
            + "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"size\":2},\"layers\":[]}")
            .getBytes(StandardCharsets.UTF_8);

    final List<Seen> seen = new CopyOnWriteArrayList<>();
    private final HttpServer server;
    private final ExecutorService executor = Executors.newFixedThreadPool(4);

    ScriptedServer(Script script) throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 50);
        server.setExecutor(executor);
        server.createContext("/", ex -> {
            try {
                seen.add(new Seen(ex.getRequestMethod(), ex.getRequestURI().getRawPath(), copy(ex.getRequestHeaders())));
                script.answer(ex);
            } finally {
                ex.close();
            }
        });
        server.start();
    }

    private static Headers copy(Headers h) {
        Headers c = new Headers();
        h.forEach(c::put);
        return c;
    }

    String host() {
        return "127.0.0.1:" + server.getAddress().getPort();
    }

    int port() {
        return server.getAddress().getPort();
    }

    /** Requests whose path contains {@code part}. */
    List<Seen> seen(String part) {
        return seen.stream().filter(s -> s.path().contains(part)).toList();
    }

    static void reply(HttpExchange ex, int status, Map<String, String> headers, byte[] body) throws IOException {
        headers.forEach(ex.getResponseHeaders()::set);
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        if (body.length > 0) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        }
    }

    /** Answers a manifest GET: the manifest to a request with any Bearer token, else 401 with {@code challenge}. */
    static void bearerRegistry(HttpExchange ex, String challenge) throws IOException {
        String auth = ex.getRequestHeaders().getFirst("Authorization");
        if (auth != null && auth.startsWith("Bearer ")) {
            reply(ex, 200, Map.of("Content-Type", MediaTypes.OCI_MANIFEST), MANIFEST);
        } else {
            reply(ex, 401, Map.of("WWW-Authenticate", challenge), new byte[0]);
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
