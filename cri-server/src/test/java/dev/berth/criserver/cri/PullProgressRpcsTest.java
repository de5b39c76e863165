package dev.berth.criserver.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.berth.cri.berth.v1.PullProgressGrpc;
import dev.berth.cri.berth.v1.PullStatus;
import dev.berth.cri.berth.v1.WatchPullRequest;
import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.criserver.grpc.CriServer;
import dev.berth.images.ActivePulls;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** berth.v1.PullProgress on the CRI socket: served beside the CRI, bounded, checked input. */
class PullProgressRpcsTest {
    @TempDir
    Path dir;

    @Test
    void aWatchOfNoPullEndsAfterItsWaitAndBadReferencesAreRefused() throws Exception {
        CriRegistry registry = new CriRegistry();
        try (PullProgressRpcs rpcs = new PullProgressRpcs(new ActivePulls())) {
            rpcs.register(registry);
            try (CriServer server = CriServer.start(dir.resolve("run/berth.sock"), registry, 1 << 20)) {
                ManagedChannel ch = Grpc.newChannelBuilder("unix://" + server.socket(), InsecureChannelCredentials.create()).build();
                try {
                    PullProgressGrpc.PullProgressBlockingStub stub = PullProgressGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS);
                    Iterator<PullStatus> none = stub.watch(WatchPullRequest.newBuilder().setImage("busybox").setWaitMs(300).build());
                    List<PullStatus> got = new ArrayList<>();
                    none.forEachRemaining(got::add);
                    assertEquals(List.of(), got, "no pull of busybox: the stream completes empty");
                    assertEquals(0, rpcs.watchers(), "the ended watch is no longer counted");

                    for (String bad : new String[] {"", "Not A Reference", "a".repeat(ActivePulls.MAX_REFERENCE + 1)}) {
                        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                                () -> stub.watch(WatchPullRequest.newBuilder().setImage(bad).build()).hasNext());
                        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), bad);
                    }
                    assertFalse(registry.services().isEmpty());
                } finally {
                    ch.shutdownNow().awaitTermination(2, TimeUnit.SECONDS);
                }
            }
        }
    }
}
