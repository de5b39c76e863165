package dev.berth.podsandbox.testing;

import dev.berth.common.BerthException;
import dev.berth.networking.PodNetwork;
import dev.berth.host.Command;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A stand-in for the CNI network: attach puts a veth pair ("eth0" and its peer "eth0p") with a unique
 * 10.77.x.y address into the pod's (real, pinned) network namespace, so tests can see it;
 * detach deletes it. Without root it only records the attachment ({@code new FakePodNetwork(false)}).
 * Failures can be scripted.
 */
public class FakePodNetwork implements PodNetwork {
    public final Map<String, String> attached = new ConcurrentHashMap<>();
    public final AtomicInteger detachCalls = new AtomicInteger();
    public volatile boolean failAttach;
    public final AtomicInteger failNextDetaches = new AtomicInteger();
    private final AtomicInteger next = new AtomicInteger(2);
    private final boolean veth;

    public FakePodNetwork() {
        this(true);
    }

    /** @param veth whether attach puts a veth pair into the pod's network namespace (needs root) or only records it */
    public FakePodNetwork(boolean veth) {
        this.veth = veth;
    }

    @Override
    public PodNetworkStatus attach(PodAttachment a) {
        if (failAttach) {
            throw BerthException.unavailable("scripted attach failure for %s", a.sandboxId());
        }
        int n = next.getAndIncrement();
        String ip = "10.77." + (n / 250) + "." + (n % 250 + 2);
        if (veth) {
            Command.check("nsenter", "--net=" + a.netnsPath(), "--", "/bin/sh", "-c",
                    "ip link add eth0 type veth peer name eth0p && ip addr add " + ip + "/16 dev eth0 && ip link set eth0 up && ip link set lo up");
        }
        attached.put(a.sandboxId(), ip);
        return new PodNetworkStatus(List.of(ip), "eth0");
    }

    @Override
    public void detach(PodAttachment a) {
        detachCalls.incrementAndGet();
        if (failNextDetaches.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
            throw BerthException.unavailable("scripted detach failure for %s", a.sandboxId());
        }
        if (attached.remove(a.sandboxId()) != null && veth) {
            Command.run("nsenter", "--net=" + a.netnsPath(), "--", "ip", "link", "del", "eth0");
        }
    }

    @Override
    public NetworkReadiness readiness() {
        return new NetworkReadiness(true, "", "");
    }

    @Override
    public void garbageCollect(Set<String> liveSandboxIds) {
        attached.keySet().retainAll(liveSandboxIds);
    }

    @Override
    public void setPodCidrs(List<String> cidrs) {
    }
}
