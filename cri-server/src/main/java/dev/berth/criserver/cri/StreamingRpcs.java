package dev.berth.criserver.cri;

import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.streaming.StreamRequest;
import dev.berth.streaming.StreamingServer;
import dev.berth.common.BerthException;
import dev.berth.cri.v1.AttachRequest;
import dev.berth.cri.v1.AttachResponse;
import dev.berth.cri.v1.ExecRequest;
import dev.berth.cri.v1.ExecResponse;
import dev.berth.cri.v1.PortForwardRequest;
import dev.berth.cri.v1.PortForwardResponse;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.ContainerRecord;
import dev.berth.podsandbox.container.ContainerState;
import dev.berth.podsandbox.sandbox.SandboxService;
import dev.berth.podsandbox.sandbox.SandboxState;
import java.nio.file.Path;

/**
 * Exec, Attach and PortForward: each call checks its request, registers it with the streaming
 * server under a one-time token and answers the URL the client connects to. The server speaks
 * the Kubernetes streaming protocols (channel.k8s.io for exec and attach,
 * portforward.k8s.io).
 */
public final class StreamingRpcs implements CriRegistry.Feature {
    private final StreamingServer server;
    private final ContainerManager containers;
    private final SandboxService sandboxes;

    public StreamingRpcs(StreamingServer server, ContainerManager containers, SandboxService sandboxes) {
        this.server = server;
        this.containers = containers;
        this.sandboxes = sandboxes;
    }

    @Override
    public void register(CriRegistry registry) {
        registry.unary(RuntimeServiceGrpc.getExecMethod(), this::exec);
        registry.unary(RuntimeServiceGrpc.getAttachMethod(), this::attach);
        registry.unary(RuntimeServiceGrpc.getPortForwardMethod(), this::portForward);
    }

    private ExecResponse exec(ExecRequest r) {
        if (r.getContainerId().isEmpty()) {
            throw BerthException.invalidArgument("exec: container id is empty");
        }
        ContainerRecord c = containers.find(r.getContainerId())
                .orElseThrow(() -> BerthException.notFound("container %s not found", r.getContainerId()));
        if (c.state() != ContainerState.RUNNING) {
            throw BerthException.failedPrecondition("container %s is not running (%s)", c.id(), c.state());
        }
        String url = server.register(new StreamRequest.Exec(c.id(), r.getCmdList(), r.getTty(), r.getStdin(), r.getStdout(),
                r.getStderr()));
        return ExecResponse.newBuilder().setUrl(url).build();
    }

    /**
     * Attach to the container's own stdio. Whether the session has a terminal is the
     * container's setting (its stderr then arrives within stdout, so stderr alone is not a
     * stream); stdin can be asked only of a container created with stdin.
     */
    private AttachResponse attach(AttachRequest r) {
        if (r.getContainerId().isEmpty()) {
            throw BerthException.invalidArgument("attach: container id is empty");
        }
        ContainerRecord c = containers.find(r.getContainerId())
                .orElseThrow(() -> BerthException.notFound("container %s not found", r.getContainerId()));
        if (c.state() != ContainerState.RUNNING) {
            throw BerthException.failedPrecondition("container %s is not running (%s)", c.id(), c.state());
        }
        if (!r.getStdin() && !r.getStdout() && !r.getStderr()) {
            throw BerthException.invalidArgument("attach: one of stdin, stdout or stderr must be requested");
        }
        if (r.getStdin() && !c.config().stdin()) {
            throw BerthException.invalidArgument("attach: container %s was not created with stdin", c.id());
        }
        boolean tty = c.config().tty();
        boolean stderr = r.getStderr() && !tty;
        if (!r.getStdin() && !r.getStdout() && !stderr) {
            throw BerthException.invalidArgument("attach: container %s has a terminal: its output is on stdout", c.id());
        }
        String url = server.register(new StreamRequest.Attach(c.id(), tty, r.getStdin(), r.getStdout(), stderr));
        return AttachResponse.newBuilder().setUrl(url).build();
    }

    private PortForwardResponse portForward(PortForwardRequest r) {
        if (r.getPodSandboxId().isEmpty()) {
            throw BerthException.invalidArgument("port-forward: pod sandbox id is empty");
        }
        var status = sandboxes.status(r.getPodSandboxId(), false);
        if (status.state() != SandboxState.READY) {
            throw BerthException.failedPrecondition("pod sandbox %s is not ready", r.getPodSandboxId());
        }
        StreamRequest.PortForward request;
        if (status.namespaces().hostNetwork()) {
            // the pod's containers are in the host's network: dial its loopback, as containerd does
            request = StreamRequest.PortForward.toHostNetwork(status.id(), r.getPortList());
        } else {
            Path netns = sandboxes.namespaces(status.id()).net();
            request = new StreamRequest.PortForward(status.id(), netns == null ? null : netns.toString(), r.getPortList());
        }
        String url = server.register(request);
        return PortForwardResponse.newBuilder().setUrl(url).build();
    }
}
