package dev.berth.agent.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.sun.net.httpserver.HttpServer;
import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.ContainerHooks;
import dev.berth.agent.testing.FakeCri;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LifecycleHandler;
import io.fabric8.kubernetes.api.model.LifecycleHandlerBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** postStart and preStop hooks: exec, httpGet, sleep; failures as the kubelet reports them; preStop bounded by its budget. */
class LifecycleHooksTest {
    FakeCri cri;
    LifecycleHooks hooks;
    final List<String> events = new CopyOnWriteArrayList<>();
    final List<ExecSyncRequest> execs = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws Exception {
        cri = new FakeCri();
        CriClient client = new CriClient(cri.channel(), Duration.ofSeconds(5), Duration.ofSeconds(5));
        hooks = new LifecycleHooks(client, new Actions(client), (o, type, reason, message) -> events.add(o.getFieldPath() + " " + type
                + " " + reason + ": " + message), List::of);
    }

    @AfterEach
    void stop() {
        hooks.close();
        cri.close();
    }

    private static Pod pod() {
        return new PodBuilder().withNewMetadata().withName("web").withNamespace("ns").withUid("u1").endMetadata().withNewSpec()
                .endSpec().build();
    }

    private static Container withHooks(LifecycleHandler postStart, LifecycleHandler preStop) {
        return new ContainerBuilder().withName("app").withNewLifecycle().withPostStart(postStart).withPreStop(preStop).endLifecycle()
                .build();
    }

    private static LifecycleHandler exec(String... cmd) {
        return new LifecycleHandlerBuilder().withNewExec().withCommand(cmd).endExec().build();
    }

    @Test
    void aFailedPostStartExecIsThrownWithTheKubeletsMessage() {
        cri.execHandler = r -> {
            execs.add(r);
            return ExecSyncResponse.newBuilder().setExitCode(2).setStdout(ByteString.copyFromUtf8("out"))
                    .setStderr(ByteString.copyFromUtf8("bad")).build();
        };
        ContainerHooks.HookFailedException e = assertThrows(ContainerHooks.HookFailedException.class,
                () -> hooks.postStart(pod(), withHooks(exec("sh", "-c", "exit 2"), null), "ctr-1"));
        assertEquals("Exec lifecycle hook ([sh -c exit 2]) for Container \"app\" in Pod \"web_ns(u1)\" failed - error: "
                + "command 'sh -c exit 2' exited with 2: bad, message: \"outbad\"", e.getMessage());
        assertEquals(0, execs.get(0).getTimeout(), "postStart has no time limit");
        cri.execHandler = r -> ExecSyncResponse.getDefaultInstance();
        hooks.postStart(pod(), withHooks(exec("true"), null), "ctr-1");
        hooks.postStart(pod(), new ContainerBuilder().withName("plain").build(), "ctr-1");
    }

    @Test
    void anHttpHookSucceedsOnAnyAnswerAndFailsWithoutOne() throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 10);
        List<String> agents = new CopyOnWriteArrayList<>();
        server.createContext("/", x -> {
            agents.add(x.getRequestHeaders().getFirst("User-Agent"));
            x.sendResponseHeaders(500, -1);
            x.close();
        });
        server.start();
        int port = server.getAddress().getPort();
        try {
            LifecycleHandler http = new LifecycleHandlerBuilder().withNewHttpGet().withHost("127.0.0.1").withPath("/started")
                    .withPort(new IntOrString(port)).endHttpGet().build();
            hooks.postStart(pod(), withHooks(http, null), "ctr-1");
            assertEquals(List.of("kube-lifecycle/1.36"), agents, "the hook ran; a 500 is no failure of a hook");
        } finally {
            server.stop(0);
        }
        LifecycleHandler refused = new LifecycleHandlerBuilder().withNewHttpGet().withHost("127.0.0.1").withPath("/started")
                .withPort(new IntOrString(port)).endHttpGet().build();
        ContainerHooks.HookFailedException e = assertThrows(ContainerHooks.HookFailedException.class,
                () -> hooks.postStart(pod(), withHooks(refused, null), "ctr-1"));
        assertTrue(e.getMessage().startsWith("HTTP lifecycle hook (/started) for Container \"app\" in Pod \"web_ns(u1)\" failed - error: "
                + "Get \"http://127.0.0.1:" + port + "/started\": dial tcp"), e.getMessage());
    }

    @Test
    void aFailedPreStopIsAnEventAndTheExecGetsTheBudgetAsTimeout() {
        cri.execHandler = r -> {
            execs.add(r);
            return ExecSyncResponse.newBuilder().setExitCode(1).build();
        };
        hooks.preStop(pod(), withHooks(null, exec("/drain")), "ctr-1", Duration.ofSeconds(7));
        assertEquals(7, execs.get(0).getTimeout());
        assertEquals(List.of("spec.containers{app} Warning FailedPreStopHook: PreStopHook failed"), events);
    }

    @Test
    void aPreStopSleepEndsWithItsBudget() throws Exception {
        LifecycleHandler sleep = new LifecycleHandlerBuilder().withNewSleep().withSeconds(600L).endSleep().build();
        CountDownLatch returned = new CountDownLatch(1);
        Thread t = new Thread(() -> {
            hooks.preStop(pod(), withHooks(null, sleep), "ctr-1", Duration.ofSeconds(1));
            returned.countDown();
        });
        t.start();
        assertTrue(returned.await(60, TimeUnit.SECONDS), "preStop returned long before its 600 s sleep");
        assertEquals(List.of(), events, "running out of budget is no failure");
    }
}
