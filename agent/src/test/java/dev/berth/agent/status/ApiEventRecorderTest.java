package dev.berth.agent.status;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.berth.agent.testing.MutableClock;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Events posted to the mock API server: their fields, aggregation of repeats, and the flood limit. */
class ApiEventRecorderTest {
    KubernetesMockServer server;
    KubernetesClient api;
    final MutableClock clock = new MutableClock(PodStatusBuilderTest.T0);
    ApiEventRecorder events;

    @BeforeEach
    void start() {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), new KubernetesCrudDispatcher(List.of()), false);
        server.init();
        api = server.createClient();
        events = new ApiEventRecorder(api, "n1", clock);
    }

    @AfterEach
    void stop() {
        events.close();
        api.close();
        server.destroy();
    }

    static Pod pod(String name, String uid) {
        return new PodBuilder().withNewMetadata().withName(name).withNamespace("ns").withUid(uid).withResourceVersion("7").endMetadata()
                .withNewSpec().addNewContainer().withName("app").withImage("img:1").endContainer()
                .addNewInitContainer().withName("init").withImage("img:1").endInitContainer().endSpec().build();
    }

    List<Event> posted() {
        return api.v1().events().inNamespace("ns").list().getItems().stream()
                .sorted(Comparator.comparing((Event e) -> e.getMetadata().getName())).toList();
    }

    @Test
    void anEventIsPostedAboutThePodOrItsContainer() throws Exception {
        events.event(EventRecorder.podReference(pod("web", "u1"), "app"), EventRecorder.NORMAL, "Started", "Started container app");
        events.event(EventRecorder.podReference(pod("web", "u1"), "init"), EventRecorder.WARNING, "Failed", "Error: it broke");
        events.flush();
        List<Event> list = posted();
        assertEquals(2, list.size());
        Event started = list.stream().filter(e -> e.getReason().equals("Started")).findFirst().orElseThrow();
        assertEquals("Pod", started.getInvolvedObject().getKind());
        assertEquals("web", started.getInvolvedObject().getName());
        assertEquals("u1", started.getInvolvedObject().getUid());
        assertEquals("7", started.getInvolvedObject().getResourceVersion());
        assertEquals("spec.containers{app}", started.getInvolvedObject().getFieldPath());
        assertEquals("Normal", started.getType());
        assertEquals("Started container app", started.getMessage());
        assertEquals("berth-agent", started.getSource().getComponent());
        assertEquals("n1", started.getSource().getHost());
        assertEquals(1, started.getCount());
        assertEquals("2026-01-02T03:04:05Z", started.getFirstTimestamp());
        assertEquals("2026-01-02T03:04:05Z", started.getLastTimestamp());
        Event failed = list.stream().filter(e -> e.getReason().equals("Failed")).findFirst().orElseThrow();
        assertEquals("spec.initContainers{init}", failed.getInvolvedObject().getFieldPath());
        assertEquals("Warning", failed.getType());
    }

    @Test
    void aRepeatWithinTenMinutesCountsOnTheSameEvent() throws Exception {
        var ref = EventRecorder.podReference(pod("web", "u1"), "app");
        events.event(ref, EventRecorder.WARNING, "BackOff", "Back-off restarting failed container app");
        clock.advance(Duration.ofSeconds(60));
        events.event(ref, EventRecorder.WARNING, "BackOff", "Back-off restarting failed container app");
        clock.advance(Duration.ofSeconds(60));
        events.event(ref, EventRecorder.WARNING, "BackOff", "Back-off restarting failed container app");
        events.flush();
        List<Event> list = posted();
        assertEquals(1, list.size(), "one object for the repeats");
        assertEquals(3, list.get(0).getCount());
        assertEquals("2026-01-02T03:04:05Z", list.get(0).getFirstTimestamp());
        assertEquals("2026-01-02T03:06:05Z", list.get(0).getLastTimestamp());

        events.event(ref, EventRecorder.WARNING, "BackOff", "another message");
        clock.advance(Duration.ofMinutes(11));
        events.event(ref, EventRecorder.WARNING, "BackOff", "Back-off restarting failed container app");
        events.flush();
        assertEquals(3, posted().size(), "another message, and a repeat after ten minutes, are new events");
    }

    @Test
    void aFloodOfEventsAboutOnePodIsBounded() throws Exception {
        var ref = EventRecorder.podReference(pod("web", "u1"), "app");
        for (int i = 0; i < 200; i++) {
            events.event(ref, EventRecorder.WARNING, "Failed", "failure " + i);
        }
        events.event(EventRecorder.podReference(pod("db", "u2"), "app"), EventRecorder.NORMAL, "Started", "Started container app");
        events.flush();
        List<Event> list = posted();
        assertEquals(ApiEventRecorder.BURST, list.stream().filter(e -> e.getInvolvedObject().getUid().equals("u1")).count());
        assertEquals(1, list.stream().filter(e -> e.getInvolvedObject().getUid().equals("u2")).count(), "another pod is not held back");
        clock.advance(ApiEventRecorder.REFILL);
        events.event(ref, EventRecorder.WARNING, "Failed", "after a while");
        events.flush();
        assertEquals(ApiEventRecorder.BURST + 1, posted().stream().filter(e -> e.getInvolvedObject().getUid().equals("u1")).count(),
                "the bucket refills");
    }
}
