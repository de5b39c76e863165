package dev.berth.cli.client;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.agent.pod.ContainerConfigException;
import dev.berth.agent.pod.NodeFacts;
import dev.berth.agent.pod.PodDirs;
import dev.berth.agent.pod.PodTranslation;
import dev.berth.agent.volume.NodeAllocatable;
import dev.berth.agent.volume.ObjectSource;
import dev.berth.agent.volume.PodVolumes;
import dev.berth.agent.volume.VolumeException;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxStatus;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.host.LinuxMounts;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth run}: a pod and its containers in one go, from crictl-shaped configs or a Kubernetes Pod manifest. */
@Command(name = "run", mixinStandardHelpOptions = true, description = {"Run a pod and a container in one go, or a whole Kubernetes Pod.",
        "With CONTAINER-CONFIG POD-CONFIG (crictl's shapes, JSON or YAML): pulls the image when the runtime lacks it, runs "
                + "the pod, creates and starts the container, and prints the container's ID.",
        "With one POD-MANIFEST (kind: Pod, YAML or JSON): runs the pod's sandbox, then each init container to completion "
                + "(exit code 0) in order, then every container, translated as berth's node agent translates pods; prints the "
                + "pod's ID. Without an API server, configMap, secret and projected volumes, env from configMaps or secrets, "
                + "and envFrom are refused (exit code 2); emptyDir (on disk), hostPath and downwardAPI volumes are made under "
                + "--volume-dir. restartPolicy, probes and lifecycle hooks are not acted on: nothing restarts a container.",
        "When a step fails, what was made is removed again."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth run container.json pod.json",
                "  berth run --runtime crun container.yaml pod.yaml",
                "  berth run nginx-pod.yaml",
                "  berth rmp -f $(berth run nginx-pod.yaml)"})
final class RunCommand implements Callable<Integer> {
    /** Where berth run makes the volumes of manifest pods (the agent uses its own state directory). */
    static final Path DEFAULT_VOLUME_DIR = Path.of("/var/lib/berth/run-pods");
    static final Path POD_LOGS = Path.of("/var/log/pods");
    private static final long POLL_MS = 200;

    @Mixin
    ClientOptions options;
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "FILE", arity = "1..2", description = "CONTAINER-CONFIG POD-CONFIG, or POD-MANIFEST")
    List<Path> files;

    @Option(names = "--runtime", paramLabel = "HANDLER", description = "the runtime handler (default: the runtime's default)")
    String runtime = "";

    @Option(names = "--no-pull", description = "do not pull images the runtime lacks (creating then fails)")
    boolean noPull;

    @Option(names = "--pull-timeout", paramLabel = "DURATION", description = "give each pull at most this long (default: no limit)")
    String pullTimeout;

    @Option(names = "--volume-dir", paramLabel = "DIR", description = "where a manifest pod's volumes are made (default: " + "/var/lib/berth/run-pods)")
    Path volumeDir = DEFAULT_VOLUME_DIR;

    @Override
    public Integer call() {
        JsonNode first = CriConfigs.tree(files.get(0));
        Duration pullLimit = pullTimeout == null ? null : PullCommand.duration("--pull-timeout", pullTimeout);
        if (CriConfigs.shape(first) == CriConfigs.Shape.POD_MANIFEST) {
            if (files.size() != 1) {
                throw ClientException.usage(files.get(0) + " is a Pod manifest: run it alone (berth run POD-MANIFEST)");
            }
            Pod pod = PodManifests.parse(files.get(0));
            try (CriSession cri = options.connect()) {
                spec.commandLine().getOut().println(runManifest(cri, pod, pullLimit));
            }
            return ExitCodes.OK;
        }
        if (files.size() != 2) {
            throw ClientException.usage("berth run takes CONTAINER-CONFIG POD-CONFIG, or one Pod manifest (kind: Pod)");
        }
        ContainerConfig container = CriConfigs.parse(files.get(0), first, ContainerConfig.newBuilder());
        PodSandboxConfig podConfig = CriConfigs.podConfig(files.get(1));
        try (CriSession cri = options.connect()) {
            if (!noPull) {
                Pulls.ensure(cri, container.getImage().getImage(), podConfig, pullLimit, null);
            }
            String podId = RunpCommand.runPod(cri, podConfig, runtime);
            try {
                String id = CreateCommand.create(cri, podId, container, podConfig);
                cri.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
                spec.commandLine().getOut().println(id);
            } catch (RuntimeException e) {
                undo(cri, podId);
                throw e;
            }
        }
        return ExitCodes.OK;
    }

    /** Runs the manifest's pod: sandbox, init containers one by one to completion, then the containers. Returns the pod ID. */
    private String runManifest(CriSession cri, Pod pod, Duration pullLimit) {
        PrintWriter err = spec.commandLine().getErr();
        PodTranslation translation = new PodTranslation(NodeFacts.current(), POD_LOGS);
        PodVolumes volumes = new PodVolumes(new PodDirs(volumeDir), ObjectSource.standalone(), LinuxMounts.INSTANCE,
                new NodeAllocatable(Runtime.getRuntime().availableProcessors() * 1000L, NodeFacts.current().memoryBytes(), 0), "",
                Path.of("/etc/hosts"), Clock.systemUTC());
        // without the agent's pod-source label: an agent on the same runtime collects only its own pods' dead containers
        // and sandboxes, and leaves those of an operator's client alone, as it does crictl's
        PodSandboxConfig podConfig = translation.sandboxConfig(pod, 0, "berth-run").toBuilder()
                .removeLabels(dev.berth.agent.pod.KubeletKeys.POD_SOURCE).build();
        String uid = pod.getMetadata().getUid();
        String podId = null;
        try {
            Files.createDirectories(Path.of(podConfig.getLogDirectory()));
            volumes.setUp(pod);
            List<String> images = new ArrayList<>();
            List<Container> all = new ArrayList<>(pod.getSpec().getInitContainers());
            all.addAll(pod.getSpec().getContainers());
            for (Container c : all) {
                images.add(noPull ? c.getImage() : Pulls.ensure(cri, c.getImage(), podConfig, pullLimit, null));
            }
            podId = RunpCommand.runPod(cri, podConfig, runtime);
            PodSandboxStatus status = cri.runtime().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(podId).build()).getStatus();
            List<String> ips = new ArrayList<>();
            if (status.hasNetwork() && !status.getNetwork().getIp().isEmpty()) {
                ips.add(status.getNetwork().getIp());
                status.getNetwork().getAdditionalIpsList().forEach(ip -> ips.add(ip.getIp()));
            }
            int inits = pod.getSpec().getInitContainers().size();
            for (int i = 0; i < all.size(); i++) {
                Container c = all.get(i);
                ContainerConfig config = translation.containerConfig(pod, c, 0, images.get(i), ips,
                        env -> volumes.containerMounts(pod, c, 0, env, ips));
                String id = CreateCommand.create(cri, podId, config, podConfig);
                cri.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
                if (i < inits) {
                    int code = waitForExit(cri, id);
                    if (code != 0) {
                        throw new ClientException(ExitCodes.FAILED, "init container " + c.getName() + " exited with code " + code);
                    }
                    err.println("init container " + c.getName() + " completed");
                }
            }
            return podId;
        } catch (ContainerConfigException | VolumeException e) {
            cleanUp(cri, podId, volumes, uid);
            throw ClientException.usage(e.getMessage());
        } catch (IOException e) {
            cleanUp(cri, podId, volumes, uid);
            throw new ClientException(ExitCodes.FAILED, "cannot create the pod's log directory: " + e.getMessage());
        } catch (RuntimeException e) {
            cleanUp(cri, podId, volumes, uid);
            throw e;
        }
    }

    private static int waitForExit(CriSession cri, String id) {
        while (true) {
            ContainerStatus s = cri.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build()).getStatus();
            if (s.getState() == ContainerState.CONTAINER_EXITED) {
                return s.getExitCode();
            }
            try {
                Thread.sleep(POLL_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ClientException(ExitCodes.FAILED, "interrupted while waiting for an init container");
            }
        }
    }

    private void cleanUp(CriSession cri, String podId, PodVolumes volumes, String uid) {
        if (podId != null) {
            undo(cri, podId);
        }
        try {
            volumes.tearDown(uid);
        } catch (RuntimeException e) {
            spec.commandLine().getErr().println("berth run: cannot remove the pod's volumes: " + e.getMessage());
        }
    }

    /** Removes a pod made by a run that failed later; what fails here is reported, the first failure stays the error. */
    private void undo(CriSession cri, String podId) {
        try {
            RmpCommand.remove(cri, podId, true);
        } catch (RuntimeException e) {
            spec.commandLine().getErr().println("berth run: cannot remove pod " + podId + " again: " + e.getMessage());
        }
    }
}
