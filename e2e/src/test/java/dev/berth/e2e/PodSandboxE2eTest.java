package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxSandboxSecurityContext;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.PodSandboxStatusResponse;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.cri.v1.StreamPodSandboxesRequest;
import dev.berth.cri.v1.StreamPodSandboxesResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Pod sandboxes through the real daemon: run, status, list, SIGKILL + restart, stop, remove. */
@Tag("root")
class PodSandboxE2eTest {
    @TempDir
    Path dir;

    BerthProcess berth;

    @AfterEach
    void cleanUp() throws Exception {
        if (berth != null) {
            try {
                if (berth.process().isAlive()) {
                    for (PodSandbox p : berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                        berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                    }
                }
            } finally {
                berth.close();
                // the test's default network made this bridge; a node's bridge would stay
                if (Files.exists(Path.of("/sys/class/net/berthe2e0"))) {
                    new ProcessBuilder("ip", "link", "delete", "berthe2e0").start().waitFor();
                }
                // a safety net for a failed test: nothing may stay mounted in the temp dir
                List<String> left = mountsUnder(dir);
                for (int i = left.size() - 1; i >= 0; i--) {
                    new ProcessBuilder("umount", "--lazy", left.get(i)).start().waitFor();
                }
            }
        }
    }

    static RunPodSandboxRequest hostNetworkPod(String name, NamespaceMode pid) {
        return RunPodSandboxRequest.newBuilder().setConfig(PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("e2e").setUid("uid-" + name))
                .setHostname(name)
                .putLabels("suite", "e2e")
                .putAnnotations("purpose", "test")
                .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE).setPid(pid)
                                .setIpc(NamespaceMode.POD)))))
                .build();
    }

    PodSandboxStatusResponse status(String id) {
        return berth.runtime().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(id).setVerbose(true).build());
    }

    static long infraPid(PodSandboxStatusResponse s) {
        Matcher m = Pattern.compile("\"pid\":(\\d+)").matcher(s.getInfoOrThrow("info"));
        assertTrue(m.find(), s.getInfoOrThrow("info"));
        return Long.parseLong(m.group(1));
    }

    @Test
    void hostNetworkSandboxesSurviveASigkillOfTheDaemonAndRemoveCleansUp() throws Exception {
        berth = BerthProcess.start(dir);
        String plain = berth.runtime().runPodSandbox(hostNetworkPod("plain", NamespaceMode.CONTAINER)).getPodSandboxId();
        String shared = berth.runtime().runPodSandbox(hostNetworkPod("shared-pid", NamespaceMode.POD)).getPodSandboxId();
        String stopped = berth.runtime().runPodSandbox(hostNetworkPod("stopped", NamespaceMode.CONTAINER)).getPodSandboxId();
        berth.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(stopped).build());

        PodSandboxStatusResponse s = status(shared);
        assertEquals(PodSandboxState.SANDBOX_READY, s.getStatus().getState());
        assertEquals(NamespaceMode.NODE, s.getStatus().getLinux().getNamespaces().getOptions().getNetwork());
        assertEquals(NamespaceMode.POD, s.getStatus().getLinux().getNamespaces().getOptions().getPid());
        assertEquals("shared-pid", s.getStatus().getMetadata().getName());
        assertEquals("e2e", s.getStatus().getLabelsOrThrow("suite"));
        assertTrue(s.getStatus().getCreatedAt() > 0);
        long infra = infraPid(s);
        assertEquals("catatonit", Files.readString(Path.of("/proc/" + infra + "/comm")).strip());
        assertEquals(0, infraPid(status(plain)), "a sandbox without an infra process has no process");

        Map<String, PodSandboxState> before = states();
        assertEquals(Map.of(plain, PodSandboxState.SANDBOX_READY, shared, PodSandboxState.SANDBOX_READY,
                stopped, PodSandboxState.SANDBOX_NOTREADY), before);

        berth.kill();
        berth.restart();
        assertEquals(before, states(), "the same sandboxes in the same states after SIGKILL and restart");
        assertEquals(infra, infraPid(status(shared)));

        // the streamed list is the same list
        List<String> streamed = new ArrayList<>();
        Iterator<StreamPodSandboxesResponse> it = berth.runtime().streamPodSandboxes(StreamPodSandboxesRequest.getDefaultInstance());
        it.forEachRemaining(r -> r.getPodSandboxesList().forEach(p -> streamed.add(p.getId())));
        assertEquals(List.of(plain, shared, stopped), streamed);

        StatusRuntimeException twin = assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().runPodSandbox(hostNetworkPod("plain", NamespaceMode.CONTAINER)));
        assertEquals(Status.Code.ALREADY_EXISTS, twin.getStatus().getCode());
        assertTrue(twin.getStatus().getDescription().contains(plain));

        // the infra process dies (while berth is down, or while it runs): the sandbox is NOTREADY
        berth.kill();
        new ProcessBuilder("kill", "-KILL", Long.toString(infra)).start().waitFor();
        while (isRunning(infra)) {
            Thread.sleep(5);
        }
        berth.restart();
        assertEquals(PodSandboxState.SANDBOX_NOTREADY, states().get(shared));
        assertEquals(PodSandboxState.SANDBOX_READY, states().get(plain));

        for (String id : List.of(plain, shared, stopped)) {
            berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
            berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        }
        assertEquals(0, berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());
        assertEquals(List.of(), mountsUnder(berth.runRoot()), "no mount left under the run root");
        assertFalse(isRunning(infra), "the infra process is gone");
        assertEquals(Status.Code.NOT_FOUND, assertThrows(StatusRuntimeException.class, () -> status(plain)).getStatus().getCode());
    }

    @Test
    void podNetworkSandboxesGetAnAddressOnTheDefaultNetworkAndLeaveNothingWhenRemoved() throws Exception {
        berth = BerthProcess.start(dir);
        RunPodSandboxRequest podNet = RunPodSandboxRequest.newBuilder().setConfig(PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName("pod-net").setNamespace("e2e").setUid("u1"))
                .setHostname("pod-net")
                .setLinux(LinuxPodSandboxConfig.newBuilder().putSysctls("net.ipv4.ip_unprivileged_port_start", "80")
                        .setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.CONTAINER)))))
                .build();
        String id = berth.runtime().runPodSandbox(podNet).getPodSandboxId();
        PodSandboxStatusResponse st = status(id);
        assertEquals(PodSandboxState.SANDBOX_READY, st.getStatus().getState());
        String ip = st.getStatus().getNetwork().getIp();
        assertTrue(ip.startsWith("10.199.1"), "an address of the test's default network: " + ip);
        Matcher netns = Pattern.compile("\"netnsPath\":\"([^\"]+)\"").matcher(st.getInfoOrThrow("info"));
        assertTrue(netns.find(), st.getInfoOrThrow("info"));
        assertEquals("80", run("nsenter", "--net=" + netns.group(1), "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start").strip());
        assertTrue(run("nsenter", "--net=" + netns.group(1), "ip", "-o", "addr").contains(ip + "/"), "the pod's eth0 holds its IP");
        assertTrue(run("ip", "-o", "link", "show", "master", "berthe2e0").contains("veth"), "the pod's veth is on the bridge");

        berth.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        assertFalse(run("ip", "-o", "link", "show", "master", "berthe2e0").contains("veth"), "no veth left on the bridge");
        assertFalse(run("iptables-save", "-t", "nat").contains(id), "no NAT rule of the pod left");
        assertEquals(List.of(), mountsUnder(berth.runRoot()));
        assertEquals(0, berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());

        RunPodSandboxRequest badSysctl = hostNetworkPod("bad", NamespaceMode.CONTAINER).toBuilder()
                .setConfig(hostNetworkPod("bad", NamespaceMode.CONTAINER).getConfig().toBuilder()
                        .setLinux(hostNetworkPod("bad", NamespaceMode.CONTAINER).getConfig().getLinux().toBuilder()
                                .putSysctls("net.ipv4.ip_forward", "1")))
                .build();
        assertEquals(Status.Code.INVALID_ARGUMENT, assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().runPodSandbox(badSysctl)).getStatus().getCode());
        RunPodSandboxRequest badHandler = hostNetworkPod("h", NamespaceMode.CONTAINER).toBuilder().setRuntimeHandler("nope").build();
        assertEquals(Status.Code.INVALID_ARGUMENT, assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().runPodSandbox(badHandler)).getStatus().getCode());
        assertEquals(List.of(), mountsUnder(berth.runRoot()));
    }

    static String run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        p.waitFor();
        return out;
    }

    Map<String, PodSandboxState> states() {
        return berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList().stream()
                .collect(Collectors.toMap(PodSandbox::getId, PodSandbox::getState));
    }

    static boolean isRunning(long pid) throws IOException {
        Path stat = Path.of("/proc/" + pid + "/stat");
        if (!Files.exists(stat)) {
            return false;
        }
        String s = Files.readString(stat);
        return s.charAt(s.lastIndexOf(')') + 2) != 'Z';
    }

    static List<String> mountsUnder(Path dir) throws IOException {
        String base = dir.toAbsolutePath().normalize().toString();
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String point = line.split(" ")[4];
            if (point.equals(base) || point.startsWith(base + "/")) {
                out.add(point);
            }
        }
        return out;
    }
}
