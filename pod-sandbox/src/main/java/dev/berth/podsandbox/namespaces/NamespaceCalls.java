package dev.berth.podsandbox.namespaces;

import dev.berth.common.BerthException;
import dev.berth.common.OwnThread;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;

/**
 * The system calls that make and pin a pod's namespaces in-process, without a helper: a
 * short-lived thread unshares its network, IPC and UTS namespaces (allowed per thread, unlike
 * mount or user namespaces), sets the hostname in the new UTS namespace and bind-mounts its
 * own {@code /proc/thread-self/ns/*} onto the pin files, then ends. The namespaces live on
 * through the pins; no thread of the daemon stays in them.
 */
final class NamespaceCalls {
    public interface C {
        int unshare(int flags);

        int sethostname(String name, long len);

        int mount(String source, String target, String fstype, long flags, String data);

        String strerror(int errnum);
    }

    static final int CLONE_NEWNET = 0x40000000;
    static final int CLONE_NEWIPC = 0x08000000;
    static final int CLONE_NEWUTS = 0x04000000;
    private static final long MS_NOSUID = 2;
    private static final long MS_NODEV = 4;
    private static final long MS_NOEXEC = 8;
    private static final long MS_BIND = 4096;
    private static final long MS_PRIVATE = 1 << 18;

    private static volatile C libc;

    private NamespaceCalls() {
    }

    private static C libc() {
        C c = libc;
        if (c == null) {
            c = LibraryLoader.create(C.class).failImmediately().load(Platform.getNativePlatform().getStandardCLibraryName());
            libc = c;
        }
        return c;
    }

    /** Makes {@code dir} a private bind mount of itself, so mounts below it do not propagate. */
    static void makePrivateBindMount(Path dir) {
        C c = libc();
        if (c.mount(dir.toString(), dir.toString(), null, MS_BIND, null) != 0) {
            throw fail(c, "bind-mount " + dir + " onto itself");
        }
        if (c.mount("none", dir.toString(), null, MS_PRIVATE, null) != 0) {
            throw fail(c, "make " + dir + " a private mount");
        }
    }

    /** Mounts a tmpfs (nosuid, nodev, noexec) with {@code options} on {@code target}. */
    static void mountTmpfs(String source, Path target, String options) {
        C c = libc();
        if (c.mount(source, target.toString(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options) != 0) {
            throw fail(c, "mount a tmpfs on " + target);
        }
    }

    /**
     * New namespaces of the kinds in {@code cloneFlags}, pinned at the non-null paths (which
     * exist as empty files), with {@code hostname} set when a UTS namespace is made.
     */
    static void unshareAndPin(int cloneFlags, Path netPin, Path ipcPin, Path utsPin, String hostname) {
        OwnThread.run("berth-pod-namespaces", "creating the pod's namespaces", () -> {
            C c = libc();
            if (c.unshare(cloneFlags) != 0) {
                throw fail(c, "create the pod's namespaces (unshare)");
            }
            if (utsPin != null && hostname != null && !hostname.isEmpty()
                    && c.sethostname(hostname, hostname.getBytes(StandardCharsets.UTF_8).length) != 0) {
                throw fail(c, "set the hostname " + hostname);
            }
            pin(c, "net", netPin);
            pin(c, "ipc", ipcPin);
            pin(c, "uts", utsPin);
        });
    }

    private static void pin(C c, String kind, Path pin) {
        if (pin != null && c.mount("/proc/thread-self/ns/" + kind, pin.toString(), null, MS_BIND, null) != 0) {
            throw fail(c, "pin the " + kind + " namespace at " + pin);
        }
    }

    private static BerthException fail(C c, String what) {
        int errno = jnr.ffi.Runtime.getRuntime(c).getLastError();
        String msg = c.strerror(errno);
        return BerthException.internal("cannot " + what + ": " + (msg == null ? "error" : msg) + " (errno " + errno + ")", null);
    }
}
