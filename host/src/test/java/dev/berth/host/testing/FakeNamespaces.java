package dev.berth.host.testing;

import dev.berth.common.BerthException;
import dev.berth.host.HostNamespaces;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Namespaces in memory: each pin is recorded as an "nsfs" mount of a {@link FakeMounts}, so it
 * is released the way a real one is (by unmounting it) and a leaked pin shows in
 * {@link #pinned()} and in the mount table. Like the kernel, it refuses to pin onto a file
 * that does not exist.
 */
public final class FakeNamespaces implements HostNamespaces {
    /** One namespace made: its kind, its pin, and the hostname set in it (UTS only). */
    public record Made(Kind kind, Path pin, String hostname) {
    }

    private final FakeMounts mounts;
    private final List<Made> made = new ArrayList<>();
    private boolean failNext;
    private boolean failNextWrite;
    private final List<Map<String, String>> written = new ArrayList<>();

    public FakeNamespaces(FakeMounts mounts) {
        this.mounts = mounts;
    }

    /** Makes the next {@link #createPinned} fail before anything is pinned. */
    public synchronized void failNext() {
        failNext = true;
    }

    /** Makes the next {@link #writeProcSys} fail. */
    public synchronized void failNextWrite() {
        failNextWrite = true;
    }

    /** The /proc/sys files of each {@link #writeProcSys} that succeeded, in order. */
    public synchronized List<Map<String, String>> written() {
        return List.copyOf(written);
    }

    /** Every namespace made so far, released or not. */
    public synchronized List<Made> made() {
        return List.copyOf(made);
    }

    /** The pins still mounted. */
    public List<Path> pinned() {
        return mounts.mounted().stream().filter(m -> m.fsType().equals("nsfs")).map(m -> m.mountPoint()).toList();
    }

    @Override
    public synchronized void createPinned(Map<Kind, Path> pins, String hostname) {
        if (failNext) {
            failNext = false;
            throw BerthException.internal("cannot create the pod's namespaces (unshare): injected failure", null);
        }
        for (Kind k : Kind.values()) {
            Path pin = pins.get(k);
            if (pin == null) {
                continue;
            }
            if (!Files.isRegularFile(pin)) {
                throw BerthException.internal("cannot pin the " + k.procName() + " namespace at " + pin + ": no such file", null);
            }
            mounts.mount(pin, "nsfs", k.procName() + ":[" + (made.size() + 1) + "]");
            made.add(new Made(k, pin, k == Kind.UTS ? hostname : null));
        }
    }

    /**
     * Pins a user namespace (a "nsfs" mount named {@code user:[n]}, recorded as kind null with
     * its uid map as the hostname) and then the others, as {@link #createPinned}.
     */
    @Override
    public synchronized void createPinnedInUserNamespace(Path userPin, String uidMap, String gidMap, Map<Kind, Path> pins,
                                                         String hostname) {
        if (failNext) {
            failNext = false;
            throw BerthException.internal("cannot create the pod's user namespace: injected failure", null);
        }
        if (!Files.isRegularFile(userPin)) {
            throw BerthException.internal("cannot pin the user namespace at " + userPin + ": no such file", null);
        }
        mounts.mount(userPin, "nsfs", "user:[" + (made.size() + 1) + "]");
        made.add(new Made(null, userPin, uidMap));
        createPinned(pins, hostname);
    }

    /** Records the files; like a writer joined to them, it needs the pins to be pinned. */
    @Override
    public synchronized void writeProcSys(Map<Kind, Path> pins, Map<String, String> files) {
        if (failNextWrite) {
            failNextWrite = false;
            throw BerthException.invalidArgument("cannot write %s: injected failure", files.keySet().iterator().next());
        }
        for (Path pin : pins.values()) {
            if (!pinned().contains(pin.toAbsolutePath().normalize())) {
                throw BerthException.internal("nsenter: cannot open " + pin + ": not a namespace", null);
            }
        }
        written.add(Map.copyOf(files));
    }
}
