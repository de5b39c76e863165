package dev.berth.agent.probe;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.Expansion;
import dev.berth.cri.v1.ExecSyncResponse;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HTTPGetAction;
import io.fabric8.kubernetes.api.model.HTTPHeader;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Probe;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The actions probes and lifecycle hooks run, as the kubelet runs them: exec through CRI
 * ExecSync in the container; httpGet, tcpSocket and grpc from the host to the pod's address
 * (the pod network is routed from the host), a port given by number or by the name of one of
 * the container's ports.
 */
public final class Actions {
    /** The User-Agent of probes, the kubelet's of this Kubernetes version. */
    public static final String PROBE_AGENT = "kube-probe/1.36";
    /** The User-Agent of httpGet lifecycle hooks. */
    public static final String HOOK_AGENT = "kube-lifecycle/1.36";
    /** How much of an exec's output is kept, as the kubelet keeps it. */
    static final int MAX_OUTPUT = 10 * 1024;

    private final CriClient cri;

    public Actions(CriClient cri) {
        this.cri = cri;
    }

    /** Runs {@code probe}'s action against container {@code c} ({@code containerId}) of the pod at {@code podIp}. */
    public ProbeResult probe(Probe probe, Container c, String containerId, String podIp) {
        Duration timeout = Duration.ofSeconds(probe.getTimeoutSeconds() == null || probe.getTimeoutSeconds() < 1 ? 1
                : probe.getTimeoutSeconds());
        try {
            if (probe.getExec() != null) {
                return exec(containerId, expandStatic(probe.getExec().getCommand(), c), timeout);
            }
            if (probe.getHttpGet() != null) {
                return httpProbe(probe.getHttpGet(), c, podIp, timeout);
            }
            if (probe.getTcpSocket() != null) {
                String host = probe.getTcpSocket().getHost() == null || probe.getTcpSocket().getHost().isEmpty() ? podIp
                        : probe.getTcpSocket().getHost();
                return TcpSocketAction.connect(host, port(probe.getTcpSocket().getPort(), c), timeout);
            }
            if (probe.getGrpc() != null) {
                int port = probe.getGrpc().getPort() == null ? 0 : probe.getGrpc().getPort();
                if (port <= 0 || port >= 65536) {
                    return ProbeResult.unknown("invalid port number: " + port);
                }
                return GrpcAction.check(podIp, port, probe.getGrpc().getService(), PROBE_AGENT, timeout);
            }
        } catch (IllegalArgumentException e) {
            return ProbeResult.unknown(e.getMessage());
        }
        return ProbeResult.unknown("missing probe handler for " + c.getName());
    }

    /**
     * Runs {@code cmd} in the container through ExecSync with {@code timeout} (zero: none): exit
     * 0 succeeds, another exit fails with the output, the runtime's DEADLINE_EXCEEDED fails as
     * a timed-out command; other errors are unknown.
     */
    public ProbeResult exec(String containerId, List<String> cmd, Duration timeout) {
        try {
            ExecSyncResponse r = cri.execSync(containerId, cmd, timeout);
            String output = output(r);
            return r.getExitCode() == 0 ? ProbeResult.success(output) : ProbeResult.failure(output);
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED) {
                return ProbeResult.failure("command \"" + String.join(" ", cmd) + "\" timed out");
            }
            return ProbeResult.unknown(e.getStatus().getCode() + ": " + e.getStatus().getDescription());
        }
    }

    /** The exec's stdout then stderr, at most {@link #MAX_OUTPUT} bytes. */
    static String output(ExecSyncResponse r) {
        byte[] out = r.getStdout().toByteArray();
        byte[] err = r.getStderr().toByteArray();
        byte[] all = new byte[Math.min(MAX_OUTPUT, out.length + err.length)];
        System.arraycopy(out, 0, all, 0, Math.min(out.length, all.length));
        if (all.length > out.length) {
            System.arraycopy(err, 0, all, out.length, all.length - out.length);
        }
        return new String(all, StandardCharsets.UTF_8);
    }

    private static ProbeResult httpProbe(HTTPGetAction a, Container c, String podIp, Duration timeout) {
        HttpGetAction.Exchange x = http(a, c, podIp, PROBE_AGENT, timeout);
        if (x.response() == null) {
            return ProbeResult.failure(x.error());
        }
        int code = x.response().status();
        if (code >= 200 && code < 400) {
            if (code >= 300) {
                return ProbeResult.warning("Probe terminated redirects, Response body: " + x.response().body());
            }
            return ProbeResult.success(x.response().body());
        }
        return ProbeResult.failure("HTTP probe failed with statuscode: " + code);
    }

    /** The GET an httpGet action makes: to its host (default: the pod's address), its port, path and headers. */
    static HttpGetAction.Exchange http(HTTPGetAction a, Container c, String podIp, String userAgent, Duration timeout) {
        String scheme = a.getScheme() == null || a.getScheme().isEmpty() ? "http" : a.getScheme().toLowerCase(Locale.ROOT);
        String host = a.getHost() == null || a.getHost().isEmpty() ? podIp : a.getHost();
        int port = port(a.getPort(), c);
        List<HttpGetAction.Header> headers = new ArrayList<>();
        for (HTTPHeader h : a.getHttpHeaders()) {
            if (h.getName() != null) {
                headers.add(new HttpGetAction.Header(h.getName(), h.getValue() == null ? "" : h.getValue()));
            }
        }
        return HttpGetAction.get(url(scheme, host, port, a.getPath()), headers, userAgent, timeout);
    }

    /** {@code scheme://host:port} and {@code path} (which may carry a query), as the kubelet forms a probe's URL. */
    static URI url(String scheme, String host, int port, String path) {
        String h = host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
        String p = path == null ? "" : path;
        if (!p.isEmpty() && !p.startsWith("/")) {
            p = "/" + p;
        }
        try {
            return new URI(scheme + "://" + h + ":" + port + p);
        } catch (URISyntaxException e) {
            try {
                int q = p.indexOf('?');
                return new URI(scheme, null, host, port, q < 0 ? p : p.substring(0, q), q < 0 ? null : p.substring(q + 1), null);
            } catch (URISyntaxException e2) {
                throw new IllegalArgumentException("invalid URL path " + path + ": " + e2.getMessage());
            }
        }
    }

    /**
     * The port number of {@code port} for container {@code c}: a number, or the name of one of
     * its ports (or a number written as a string), from 1 to 65535.
     */
    static int port(IntOrString port, Container c) {
        if (port == null) {
            throw new IllegalArgumentException("invalid port number: 0");
        }
        int n;
        if (port.getIntVal() != null) {
            n = port.getIntVal();
        } else {
            String name = port.getStrVal() == null ? "" : port.getStrVal();
            Integer found = null;
            for (ContainerPort p : c.getPorts()) {
                if (name.equals(p.getName()) && p.getContainerPort() != null) {
                    found = p.getContainerPort();
                    break;
                }
            }
            if (found == null) {
                try {
                    found = Integer.parseInt(name);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("couldn't find port: " + name + " in " + c.getName());
                }
            }
            n = found;
        }
        if (n <= 0 || n >= 65536) {
            throw new IllegalArgumentException("invalid port number: " + n);
        }
        return n;
    }

    /** {@code $(VAR)} in an exec probe's command expanded from the container's plain env values, as the kubelet expands it. */
    static List<String> expandStatic(List<String> cmd, Container c) {
        Map<String, String> env = new HashMap<>();
        for (EnvVar e : c.getEnv()) {
            if (e.getName() != null && e.getValue() != null && e.getValueFrom() == null) {
                env.put(e.getName(), e.getValue());
            }
        }
        return cmd.stream().map(s -> Expansion.expand(s, env::get)).toList();
    }
}
