package dev.berth.agent.gc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.testing.FakeCri;
import dev.berth.agent.testing.MutableClock;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.PodSandboxState;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ContainerGcTest {
    private static final Instant NOW = Instant.parse("2030-01-01T00:00:00Z");
    private final FakeCri fake;
    private final CriClient cri;
    private final MutableClock clock = new MutableClock(NOW);
    private final Set<String> wanted = new HashSet<>();

    ContainerGcTest() throws Exception {
        fake = new FakeCri();
        cri = new CriClient(fake.channel(), Duration.ofSeconds(10), Duration.ofSeconds(10));
    }

    @AfterEach
    void close() {
        fake.close();
    }

    private static GcSettings settings(int maxPerPodContainer, int maxContainers, Duration minAge) {
        GcSettings d = GcSettings.defaults();
        return new GcSettings(d.imageGcHighThresholdPercent(), d.imageGcLowThresholdPercent(), d.imageMinimumGcAge(), d.imageMaximumGcAge(),
                maxPerPodContainer, maxContainers, minAge, d.containerGcPeriod(), d.imageGcPeriod());
    }

    private void collect(GcSettings settings) {
        new ContainerGc(cri, settings, wanted::contains, clock).collect();
    }

    /** Nanoseconds since the epoch, {@code ago} before now. */
    private static long ago(Duration ago) {
        Instant t = NOW.minus(ago);
        return t.getEpochSecond() * 1_000_000_000L + t.getNano();
    }

    private String pod(String uid) {
        wanted.add(uid);
        return fake.addSandbox(uid, "p-" + uid, "file", PodSandboxState.SANDBOX_READY, 0, ago(Duration.ofHours(1)));
    }

    private String container(String sandbox, String name, int attempt, ContainerState state) {
        return fake.addContainer(sandbox, name, attempt, state, ago(Duration.ofMinutes(50 - attempt)), "sha256:img");
    }

    @Test
    void theNewestDeadRunOfEachContainerStaysForLastStateAndARunningOneIsNeverRemoved() {
        String s = pod("a");
        String run0 = container(s, "app", 0, ContainerState.CONTAINER_EXITED);
        String run1 = container(s, "app", 1, ContainerState.CONTAINER_EXITED);
        String run2 = container(s, "app", 2, ContainerState.CONTAINER_EXITED);
        String running = container(s, "app", 3, ContainerState.CONTAINER_RUNNING);
        String init = container(s, "init", 0, ContainerState.CONTAINER_EXITED);

        collect(settings(1, -1, Duration.ZERO));

        assertEquals(Set.of(run2, running, init), fake.containers.keySet(), "the older runs of app go, its newest dead run stays");
        assertTrue(fake.sandboxes.containsKey(s));
        assertTrue(!fake.containers.containsKey(run0) && !fake.containers.containsKey(run1));

        collect(settings(0, -1, Duration.ZERO));
        assertEquals(Set.of(running), fake.containers.keySet(), "with no dead container allowed only the running one stays");
    }

    @Test
    void deadContainersYoungerThanTheMinimumAgeStay() {
        String s = pod("a");
        String old = container(s, "app", 0, ContainerState.CONTAINER_EXITED);
        String young1 = fake.addContainer(s, "app", 1, ContainerState.CONTAINER_EXITED, ago(Duration.ofSeconds(30)), "sha256:img");
        String young2 = fake.addContainer(s, "app", 2, ContainerState.CONTAINER_CREATED, ago(Duration.ofSeconds(10)), "sha256:img");

        collect(settings(0, -1, Duration.ofMinutes(1)));

        assertEquals(Set.of(young1, young2), fake.containers.keySet(), "only the one older than a minute went: " + old);
    }

    @Test
    void aContainerCreatedButNeverStartedCountsAsDead() {
        String s = pod("a");
        String created = container(s, "app", 0, ContainerState.CONTAINER_CREATED);
        String exited = container(s, "app", 1, ContainerState.CONTAINER_EXITED);

        collect(settings(1, -1, Duration.ZERO));

        assertEquals(Set.of(exited), fake.containers.keySet(), "the older, never started run went: " + created);
    }

    @Test
    void theNodeLimitSplitsEvenlyAcrossContainersThenTakesTheOldest() {
        String a = pod("a");
        String b = pod("b");
        for (int i = 0; i < 4; i++) {
            container(a, "app", i, ContainerState.CONTAINER_EXITED);
        }
        container(b, "web", 0, ContainerState.CONTAINER_EXITED);
        String b1 = container(b, "web", 1, ContainerState.CONTAINER_EXITED);
        String a3 = fake.containerOf("a", "app");

        collect(settings(10, 3, Duration.ZERO));
        assertEquals(Set.of(a3, b1), fake.containers.keySet(), "6 dead over a limit of 3 in 2 groups: each keeps 3/2 = 1, its newest");

        collect(settings(10, 1, Duration.ZERO));
        assertEquals(Set.of(a3), fake.containers.keySet(), "then the oldest across groups (lowest attempt first) go down to the limit");
    }

    @Test
    void theLeftoversOfARemovedPodGoButNotWhatStillRuns() {
        String gone = pod("gone");
        String deadSandbox = fake.addSandbox("gone", "p-gone", "file", PodSandboxState.SANDBOX_NOTREADY, 0, ago(Duration.ofHours(2)));
        container(gone, "app", 0, ContainerState.CONTAINER_EXITED);
        container(gone, "app", 1, ContainerState.CONTAINER_EXITED);
        String stillRunning = fake.addSandbox("orphan", "p-orphan", "file", PodSandboxState.SANDBOX_READY, 0, ago(Duration.ofHours(1)));
        String running = container(stillRunning, "app", 0, ContainerState.CONTAINER_RUNNING);
        String deadOfOrphan = container(stillRunning, "side", 0, ContainerState.CONTAINER_EXITED);
        wanted.remove("gone");

        collect(settings(1, -1, Duration.ZERO));

        assertEquals(Set.of(running), fake.containers.keySet(), "every dead container of the gone pods went, " + deadOfOrphan + " too");
        assertTrue(!fake.sandboxes.containsKey(deadSandbox), "the not ready, empty sandbox of a gone pod goes");
        assertTrue(fake.sandboxes.containsKey(gone), "a ready sandbox stays (the pod's worker or a start-up reconcile stops it)");
        assertTrue(fake.sandboxes.containsKey(stillRunning), "a sandbox with a running container stays");

        fake.sandboxes.computeIfPresent(gone, (k, v) -> v.toBuilder().setState(PodSandboxState.SANDBOX_NOTREADY).build());
        collect(settings(1, -1, Duration.ZERO));
        assertTrue(!fake.sandboxes.containsKey(gone), "once not ready and empty it goes");
        assertEquals(2, fake.calls("RemovePodSandbox"));
    }

    @Test
    void aWantedPodKeepsItsNewestSandboxAndLosesOlderDeadOnes() {
        String newest = fake.addSandbox("a", "p-a", "api", PodSandboxState.SANDBOX_NOTREADY, 1, ago(Duration.ofMinutes(10)));
        String older = fake.addSandbox("a", "p-a", "api", PodSandboxState.SANDBOX_NOTREADY, 0, ago(Duration.ofMinutes(20)));
        String ready = fake.addSandbox("b", "p-b", "api", PodSandboxState.SANDBOX_READY, 0, ago(Duration.ofMinutes(30)));
        String readyOlder = fake.addSandbox("b", "p-b", "api", PodSandboxState.SANDBOX_READY, 0, ago(Duration.ofMinutes(40)));
        wanted.addAll(Set.of("a", "b"));

        collect(settings(1, -1, Duration.ZERO));

        assertEquals(Set.of(newest, ready, readyOlder), fake.sandboxes.keySet(), "only the older not ready sandbox goes: " + older);
    }

    @Test
    void sandboxesTheAgentDidNotMakeAreNeverTouched() {
        String mine = fake.addSandbox("crictl", "by-hand", null, PodSandboxState.SANDBOX_NOTREADY, 0, ago(Duration.ofHours(1)));
        String c0 = container(mine, "x", 0, ContainerState.CONTAINER_EXITED);
        String c1 = container(mine, "x", 1, ContainerState.CONTAINER_EXITED);

        collect(settings(0, 0, Duration.ZERO));

        assertEquals(Set.of(c0, c1), fake.containers.keySet());
        assertEquals(Set.of(mine), fake.sandboxes.keySet());
    }

    @Test
    void aContainerInUnknownStateIsStoppedBeforeItIsRemoved() {
        String s = pod("a");
        String unknown = container(s, "app", 0, ContainerState.CONTAINER_UNKNOWN);
        String newest = container(s, "app", 1, ContainerState.CONTAINER_EXITED);

        collect(settings(1, -1, Duration.ZERO));

        assertEquals(Set.of(newest), fake.containers.keySet(), unknown + " is removed");
        assertEquals(1, fake.calls("StopContainer"));
        assertEquals(1, fake.calls("RemoveContainer"));
    }
}
