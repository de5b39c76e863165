package dev.berth.agent.probe;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * An HTTP GET as the kubelet's httpGet probes and hooks make it, on a connection of its own
 * (HTTP/1.1, {@code Connection: close}): HTTPS without verifying the server's certificate or
 * name, the caller's headers (a {@code Host} header names the virtual host), a User-Agent and
 * {@code Accept: *}{@code /*} unless the headers set them. Redirects (301, 302, 303, 307, 308)
 * are followed up to 10 times while they stay on the first URL's host; a redirect to another
 * host is not followed and its response is the answer. At most {@value #MAX_BODY} bytes of a
 * body are read. The whole exchange, redirects included, has one timeout.
 *
 * <p>Written by hand rather than with the JDK's clients: those refuse a caller's {@code Host}
 * header unless a JVM-wide property allows it, and verify certificates per client only through
 * JVM-wide switches.
 */
final class HttpGetAction {
    static final int MAX_BODY = 10 * 1024;
    static final int MAX_REDIRECTS = 10;
    private static final int MAX_HEAD = 64 * 1024;
    private static final SSLSocketFactory INSECURE = insecureTls();

    private HttpGetAction() {
    }

    /** An answer: its status code, headers (names lower case), and the start of its body. */
    record Response(int status, Map<String, String> headers, String body) {
    }

    /** How {@link #get} ended: the last response, or why there is none ({@code error}). */
    record Exchange(Response response, String error, String url) {
    }

    /** A header to send, as the pod spec lists it (the same name may come more than once). */
    record Header(String name, String value) {
    }

    /**
     * GETs {@code url} (http or https) with {@code headers}, following redirects as the
     * kubelet does, all within {@code timeout}.
     */
    static Exchange get(URI url, List<Header> headers, String userAgent, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        String originalHost = url.getHost();
        String hostHeader = null;
        for (Header h : headers) {
            if (h.name().equalsIgnoreCase("Host")) {
                hostHeader = h.value();
            }
        }
        URI current = url;
        for (int hop = 0; ; hop++) {
            Response r;
            try {
                r = once(current, hostHeader, headers, userAgent, deadline);
            } catch (SocketTimeoutException e) {
                return new Exchange(null, "Get \"" + current + "\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                        current.toString());
            } catch (ConnectException e) {
                return new Exchange(null, "Get \"" + current + "\": dial tcp " + authority(current) + ": connect: "
                        + (e.getMessage() == null ? "connection refused" : e.getMessage().toLowerCase(Locale.ROOT)), current.toString());
            } catch (IOException e) {
                return new Exchange(null, "Get \"" + current + "\": " + e, current.toString());
            }
            String location = r.headers().get("location");
            if (!redirect(r.status()) || location == null || location.isEmpty()) {
                return new Exchange(r, null, current.toString());
            }
            URI next;
            boolean relative;
            try {
                URI loc = new URI(location.trim());
                relative = loc.getScheme() == null && loc.getHost() == null;
                next = current.resolve(loc);
            } catch (URISyntaxException | IllegalArgumentException e) {
                return new Exchange(null, "Get \"" + location + "\": failed to parse Location header: " + e.getMessage(),
                        current.toString());
            }
            if (next.getHost() == null || !next.getHost().equalsIgnoreCase(originalHost)) {
                return new Exchange(r, null, current.toString()); // another host: the redirect itself is the answer
            }
            if (hop + 1 >= MAX_REDIRECTS) {
                return new Exchange(null, "Get \"" + next + "\": stopped after " + MAX_REDIRECTS + " redirects", next.toString());
            }
            if (!relative) {
                hostHeader = null; // an absolute redirect names its own host; a relative one keeps the caller's Host header
            }
            current = next;
        }
    }

    private static boolean redirect(int status) {
        return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    }

    private static String authority(URI u) {
        return u.getHost() + ":" + port(u);
    }

    private static int port(URI u) {
        return u.getPort() > 0 ? u.getPort() : "https".equalsIgnoreCase(u.getScheme()) ? 443 : 80;
    }

    private static int remainingMillis(long deadline) throws SocketTimeoutException {
        long left = (deadline - System.nanoTime()) / 1_000_000;
        if (left <= 0) {
            throw new SocketTimeoutException("deadline");
        }
        return (int) Math.min(Integer.MAX_VALUE, left);
    }

    private static Response once(URI url, String hostHeader, List<Header> headers, String userAgent, long deadline) throws IOException {
        boolean tls = "https".equalsIgnoreCase(url.getScheme());
        String host = url.getHost();
        int port = port(url);
        Socket plain = new Socket();
        Socket s = plain;
        try {
            plain.connect(new InetSocketAddress(host, port), remainingMillis(deadline));
            plain.setSoTimeout(remainingMillis(deadline));
            if (tls) {
                SSLSocket ssl = (SSLSocket) INSECURE.createSocket(plain, host, port, true);
                s = ssl;
                ssl.startHandshake();
            }
            StringBuilder req = new StringBuilder();
            String target = url.getRawPath() == null || url.getRawPath().isEmpty() ? "/" : url.getRawPath();
            if (url.getRawQuery() != null) {
                target += "?" + url.getRawQuery();
            }
            req.append("GET ").append(target).append(" HTTP/1.1\r\n");
            boolean defaultPort = port == (tls ? 443 : 80);
            String hostValue = hostHeader != null ? hostHeader : (host.contains(":") ? "[" + host + "]" : host) + (defaultPort ? "" : ":" + port);
            req.append("Host: ").append(hostValue).append("\r\n");
            boolean agent = false;
            boolean accept = false;
            for (Header h : headers) {
                if (h.name().equalsIgnoreCase("Host") || h.name().equalsIgnoreCase("Connection") || h.name().isEmpty()) {
                    continue;
                }
                agent |= h.name().equalsIgnoreCase("User-Agent");
                accept |= h.name().equalsIgnoreCase("Accept");
                req.append(h.name()).append(": ").append(h.value().replace("\r", "").replace("\n", "")).append("\r\n");
            }
            if (!agent) {
                req.append("User-Agent: ").append(userAgent).append("\r\n");
            }
            if (!accept) {
                req.append("Accept: */*\r\n");
            }
            req.append("Connection: close\r\n\r\n");
            OutputStream out = s.getOutputStream();
            out.write(req.toString().getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = s.getInputStream();
            List<String> head = readHead(in, s, deadline);
            String statusLine = head.get(0);
            String[] parts = statusLine.split(" ", 3);
            if (parts.length < 2 || !parts[0].startsWith("HTTP/")) {
                throw new IOException("malformed HTTP response \"" + statusLine + "\"");
            }
            int status;
            try {
                status = Integer.parseInt(parts[1]);
            } catch (NumberFormatException e) {
                throw new IOException("malformed HTTP status code \"" + parts[1] + "\"");
            }
            Map<String, String> fields = new java.util.LinkedHashMap<>();
            for (String line : head.subList(1, head.size())) {
                int colon = line.indexOf(':');
                if (colon > 0) {
                    fields.putIfAbsent(line.substring(0, colon).trim().toLowerCase(Locale.ROOT), line.substring(colon + 1).trim());
                }
            }
            String body = readBody(in, s, fields, deadline);
            return new Response(status, fields, body);
        } finally {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing
            }
            if (s != plain) {
                plain.close();
            }
        }
    }

    /** The status line and header lines, up to the empty line. */
    private static List<String> readHead(InputStream in, Socket s, long deadline) throws IOException {
        List<String> lines = new ArrayList<>();
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int total = 0;
        while (true) {
            s.setSoTimeout(remainingMillis(deadline));
            int b = in.read();
            if (b < 0) {
                throw new IOException(lines.isEmpty() && line.size() == 0 ? "EOF" : "unexpected EOF");
            }
            if (++total > MAX_HEAD) {
                throw new IOException("server response headers exceeded " + MAX_HEAD + " bytes; aborted");
            }
            if (b == '\n') {
                String l = line.toString(StandardCharsets.ISO_8859_1);
                if (l.endsWith("\r")) {
                    l = l.substring(0, l.length() - 1);
                }
                line.reset();
                if (l.isEmpty()) {
                    if (lines.isEmpty()) {
                        continue;
                    }
                    return lines;
                }
                lines.add(l);
            } else {
                line.write(b);
            }
        }
    }

    /** At most {@link #MAX_BODY} bytes of the body (raw: a chunked body keeps its chunk sizes); a longer one is cut, as the kubelet cuts it. */
    private static String readBody(InputStream in, Socket s, Map<String, String> fields, long deadline) throws IOException {
        long length = -1;
        try {
            length = Long.parseLong(fields.getOrDefault("content-length", "-1").trim());
        } catch (NumberFormatException e) {
            // read to the end or the limit
        }
        boolean chunked = fields.getOrDefault("transfer-encoding", "").toLowerCase(Locale.ROOT).contains("chunked");
        long want = length >= 0 ? Math.min(length, MAX_BODY) : MAX_BODY;
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        byte[] buf = new byte[2048];
        while (body.size() < want) {
            s.setSoTimeout(remainingMillis(deadline));
            int n = in.read(buf, 0, (int) Math.min(buf.length, want - body.size()));
            if (n < 0) {
                break;
            }
            body.write(buf, 0, n);
            if (chunked && body.toString(StandardCharsets.ISO_8859_1).endsWith("0\r\n\r\n")) {
                break;
            }
        }
        return body.toString(StandardCharsets.UTF_8);
    }

    private static SSLSocketFactory insecureTls() {
        TrustManager trustAll = new X509TrustManager() {
            @Override
            public void checkClientTrusted(X509Certificate[] chain, String authType) {
            }

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String authType) {
            }

            @Override
            public X509Certificate[] getAcceptedIssuers() {
                return new X509Certificate[0];
            }
        };
        try {
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, new TrustManager[] {trustAll}, null);
            return context.getSocketFactory();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("no TLS in this JVM", e);
        }
    }
}
