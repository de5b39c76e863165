package dev.berth.podsandbox.container;

import dev.berth.cgroups.guest.Cgroup2Guest;
import java.util.ArrayList;
import java.util.List;
import org.junit.platform.engine.DiscoverySelector;

/**
 * Runs {@link CrunLifecycleInGuest} and the selected methods of {@link CrunSuiteInGuest} inside
 * the cgroup v2 guest (and {@link HandlerBenchmarkInGuest} with {@code -Dberth.benchmark=true});
 * see {@link Cgroup2Guest#runTests}.
 */
public final class CrunGuestMain {
    private CrunGuestMain() {
    }

    public static void main(String[] args) {
        List<DiscoverySelector> selectors = new ArrayList<>();
        selectors.add(Cgroup2Guest.all(CrunLifecycleInGuest.class));
        for (String method : CrunSuiteInGuest.METHODS) {
            selectors.add(Cgroup2Guest.method(CrunSuiteInGuest.class, method));
        }
        if (Boolean.getBoolean("berth.benchmark")) {
            selectors.add(Cgroup2Guest.all(HandlerBenchmarkInGuest.class));
        }
        Cgroup2Guest.runTests("container lifecycle checks", selectors);
    }
}
