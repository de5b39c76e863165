package dev.berth.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class IdleCollectorTest {
    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private final AtomicInteger collections = new AtomicInteger();
    private final IdleCollector collector = new IdleCollector(Duration.ofSeconds(2), now::get, collections::incrementAndGet, null);

    private void call() {
        collector.interceptCall(null, new Metadata(), (c, h) -> new ServerCall.Listener<Object>() { });
    }

    private void after(Duration d) {
        now.addAndGet(d.toNanos());
        collector.check();
    }

    @Test
    void collectsOnceWhenTheCallsHaveStoppedForTheQuietTime() {
        call();
        after(Duration.ofMillis(1500));
        assertEquals(0, collections.get());
        call();
        after(Duration.ofMillis(1500));
        assertEquals(0, collections.get(), "a call 1.5 s ago: not quiet yet");
        after(Duration.ofMillis(600));
        assertEquals(1, collections.get());
        after(Duration.ofSeconds(10));
        after(Duration.ofSeconds(10));
        assertEquals(1, collections.get(), "no calls since the collection");
        call();
        after(Duration.ofSeconds(3));
        assertEquals(2, collections.get());
    }

    @Test
    void aDaemonNobodyCallsIsNeverCollected() {
        after(Duration.ofSeconds(5));
        after(Duration.ofMinutes(5));
        assertEquals(0, collections.get());
    }
}
