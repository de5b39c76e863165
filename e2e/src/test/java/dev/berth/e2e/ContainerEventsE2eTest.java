package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.ContainerEventResponse;
import dev.berth.cri.v1.ContainerEventType;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.GetEventsRequest;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GetContainerEvents through the real daemon: the events of a container's lifecycle and of its
 * pod arrive in order, a container that exits on its own is reported stopped, and a
 * subscriber that never reads does not hold up the runtime.
 */
@Tag("root")
class ContainerEventsE2eTest {
    @TempDir
    Path dir;

    final ContainerE2eTest containers = new ContainerE2eTest();
    final List<ClientCallStreamObserver<GetEventsRequest>> calls = new ArrayList<>();

    @AfterEach
    void cleanUp() throws Exception {
        calls.forEach(c -> c.cancel("test over", null));
        containers.cleanUp();
    }

    /** Subscribes; {@code read} false means the client never asks for a message (client-side flow control). */
    private BlockingQueue<ContainerEventResponse> subscribe(boolean read, CompletableFuture<Throwable> ended) {
        BlockingQueue<ContainerEventResponse> queue = new LinkedBlockingQueue<>();
        containers.berth.runtimeAsync().getContainerEvents(GetEventsRequest.getDefaultInstance(),
                new ClientResponseObserver<GetEventsRequest, ContainerEventResponse>() {
                    @Override
                    public void beforeStart(ClientCallStreamObserver<GetEventsRequest> call) {
                        if (!read) {
                            call.disableAutoRequestWithInitial(0);
                        }
                        calls.add(call);
                    }

                    @Override
                    public void onNext(ContainerEventResponse value) {
                        queue.add(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                        ended.complete(t);
                    }

                    @Override
                    public void onCompleted() {
                        ended.complete(null);
                    }
                });
        return queue;
    }

    /** Takes events until one of {@code type} for {@code id} arrives; returns those about {@code id}. */
    private static List<ContainerEventResponse> until(BlockingQueue<ContainerEventResponse> queue, String id,
                                                      ContainerEventType type, List<ContainerEventResponse> others) throws InterruptedException {
        List<ContainerEventResponse> out = new ArrayList<>();
        while (true) {
            ContainerEventResponse e = queue.poll(120, TimeUnit.SECONDS);
            assertNotNull(e, "no " + type + " event for " + id + " after " + out);
            if (e.getContainerId().equals(id)) {
                out.add(e);
                if (e.getContainerEventType() == type) {
                    return out;
                }
            } else {
                others.add(e);
            }
        }
    }

    private static List<ContainerEventType> types(List<ContainerEventResponse> events) {
        return events.stream().map(ContainerEventResponse::getContainerEventType).toList();
    }

    private static ContainerStatus statusOf(ContainerEventResponse e, String id) {
        return e.getContainersStatusesList().stream().filter(s -> s.getId().equals(id)).findFirst()
                .orElseThrow(() -> new AssertionError("event " + e.getContainerEventType() + " has no status of " + id));
    }

    @Test
    void lifecycleEventsArriveInOrderAndASubscriberThatNeverReadsBlocksNothing() throws Exception {
        containers.dir = dir;
        containers.berth = BerthProcess.start(dir.resolve("berth"));
        BerthProcess berth = containers.berth;
        containers.importBusybox();
        CompletableFuture<Throwable> readerEnded = new CompletableFuture<>();
        BlockingQueue<ContainerEventResponse> events = subscribe(true, readerEnded);
        BlockingQueue<ContainerEventResponse> stuck = subscribe(false, new CompletableFuture<>());
        List<ContainerEventResponse> others = new ArrayList<>();

        String pod = berth.runtime().runPodSandbox(ContainerE2eTest.pod("events", dir.resolve("logs"))).getPodSandboxId();
        List<ContainerEventResponse> podEvents = until(events, pod, ContainerEventType.CONTAINER_STARTED_EVENT, others);
        assertEquals(List.of(ContainerEventType.CONTAINER_CREATED_EVENT, ContainerEventType.CONTAINER_STARTED_EVENT), types(podEvents));
        assertEquals(pod, podEvents.get(1).getPodSandboxStatus().getId());

        // create, start, stop, remove: CreateContainer returns although one subscriber reads nothing
        String id = containers.create(pod, "sleeper", "sleeper/0.log");
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        containers.stop(id, 0);
        containers.stop(id, 0); // an idempotent second stop is no second exit
        berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
        List<ContainerEventResponse> lifecycle = until(events, id, ContainerEventType.CONTAINER_DELETED_EVENT, others);
        assertEquals(List.of(ContainerEventType.CONTAINER_CREATED_EVENT, ContainerEventType.CONTAINER_STARTED_EVENT,
                ContainerEventType.CONTAINER_STOPPED_EVENT, ContainerEventType.CONTAINER_DELETED_EVENT), types(lifecycle));
        ContainerEventResponse created = lifecycle.get(0);
        assertEquals(pod, created.getPodSandboxStatus().getId());
        assertEquals("sleeper", statusOf(created, id).getMetadata().getName());
        assertTrue(created.getCreatedAt() > 0);
        for (int i = 1; i < lifecycle.size(); i++) {
            assertTrue(lifecycle.get(i).getCreatedAt() >= lifecycle.get(i - 1).getCreatedAt(), "event times do not go back");
        }
        assertEquals(ContainerState.CONTAINER_EXITED, statusOf(lifecycle.get(2), id).getState());
        assertEquals(ContainerState.CONTAINER_EXITED, statusOf(lifecycle.get(3), id).getState(),
                "the DELETED event carries the last status before removal");

        // a container that exits on its own
        CreateContainerRequest quick = ContainerE2eTest.request(pod, "quick", "quick/0.log");
        quick = quick.toBuilder().setConfig(quick.getConfig().toBuilder().clearCommand().clearArgs()
                .addCommand("sh").addArgs("-c").addArgs("exit 0")).build();
        String quickId = berth.runtime().createContainer(quick).getContainerId();
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(quickId).build());
        List<ContainerEventResponse> quickEvents = until(events, quickId, ContainerEventType.CONTAINER_STOPPED_EVENT, others);
        assertEquals(List.of(ContainerEventType.CONTAINER_CREATED_EVENT, ContainerEventType.CONTAINER_STARTED_EVENT,
                ContainerEventType.CONTAINER_STOPPED_EVENT), types(quickEvents));
        ContainerStatus exited = statusOf(quickEvents.get(2), quickId);
        assertEquals(ContainerState.CONTAINER_EXITED, exited.getState());
        assertEquals(0, exited.getExitCode());

        // the pod: stopped, then removed with its container
        berth.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        List<ContainerEventResponse> podEnd = until(events, pod, ContainerEventType.CONTAINER_DELETED_EVENT, others);
        assertEquals(List.of(ContainerEventType.CONTAINER_STOPPED_EVENT, ContainerEventType.CONTAINER_DELETED_EVENT), types(podEnd));
        assertTrue(others.stream().anyMatch(e -> e.getContainerId().equals(quickId)
                        && e.getContainerEventType() == ContainerEventType.CONTAINER_DELETED_EVENT),
                "RemovePodSandbox reports its container deleted: " + types(others));
        assertEquals(0, others.stream().filter(e -> e.getContainerId().equals(id)).count(), "no further event for the removed container");
        assertTrue(stuck.isEmpty(), "the subscriber that asked for nothing got nothing");
        assertTrue(!readerEnded.isDone(), "the reading subscriber's stream is still open");
        containers.assertNothingLeft();
    }
}
