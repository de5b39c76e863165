package dev.berth.agent.cri;

import dev.berth.agent.grpc.CriRegistry;
import dev.berth.agent.streaming.StreamRequest;
import dev.berth.agent.streaming.StreamingServer;
import dev.berth.common.BerthException;
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
 * Exec and PortForward: each call checks its request, registers it with the streaming server
 * under a one-time token and answers the URL the client connects to. The server speaks the
 * WebSocket forms of the Kubernetes streaming protocols (channel.k8s.io v4/v5 for exec,
 * portforward.k8s.io); Attach is not served yet.
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

    private PortForwardResponse portForward(PortForwardRequest r) {
        if (r.getPodSandboxId().isEmpty()) {
            throw BerthException.invalidArgument("port-forward: pod sandbox id is empty");
        }
        var status = sandboxes.status(r.getPodSandboxId(), false);
        if (status.state() != SandboxState.READY) {
            throw BerthException.failedPrecondition("pod sandbox %s is not ready", r.getPodSandboxId());
        }
        Path netns = sandboxes.namespaces(status.id()).net();
        String url = server.register(new StreamRequest.PortForward(status.id(), netns == null ? null : netns.toString(),
                r.getPortList()));
        return PortForwardResponse.newBuilder().setUrl(url).build();
    }
}
