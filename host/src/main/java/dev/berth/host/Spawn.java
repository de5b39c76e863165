package dev.berth.host;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Platform;
import jnr.ffi.Pointer;

/**
 * Starts a program with {@code posix_spawn}, with descriptors of its own beyond the standard
 * three, which the JDK's process launcher cannot hand over (it closes every descriptor above
 * 2): each of the child's descriptors is opened from a path in the child, every other
 * descriptor is closed ({@code closefrom}), the signal mask is emptied and every signal's
 * action is the default. For a program that daemonizes (conmon): the caller reaps the process
 * it started with {@link #reap}. Needs glibc 2.34 ({@code addclosefrom_np}); {@link #available()}
 * says whether this C library has it, so that a caller can fall back to the JDK's launcher.
 */
public final class Spawn {
    /** The bound functions (public only because the generated binding must see it). */
    public interface S {
        int posix_spawn_file_actions_init(Pointer actions);

        int posix_spawn_file_actions_destroy(Pointer actions);

        int posix_spawn_file_actions_addopen(Pointer actions, int fd, String path, int flags, int mode);

        int posix_spawn_file_actions_addchdir_np(Pointer actions, String path);

        int posix_spawn_file_actions_addclosefrom_np(Pointer actions, int from);

        int posix_spawnattr_init(Pointer attr);

        int posix_spawnattr_destroy(Pointer attr);

        int posix_spawnattr_setflags(Pointer attr, short flags);

        int posix_spawnattr_setsigmask(Pointer attr, Pointer set);

        int posix_spawnattr_setsigdefault(Pointer attr, Pointer set);

        int sigemptyset(Pointer set);

        int sigfillset(Pointer set);

        int posix_spawn(Pointer pid, String path, Pointer actions, Pointer attr, Pointer argv, Pointer envp);

        int waitpid(int pid, int[] status, int options);
    }

    /** One descriptor of the child: {@code path} opened with {@code flags} (and {@code mode} when it creates it). */
    public record Open(int fd, Path path, int flags, int mode) {
        public static Open read(int fd, Path path) {
            return new Open(fd, path, Libc.O_RDONLY, 0);
        }

        public static Open write(int fd, Path path) {
            return new Open(fd, path, Libc.O_WRONLY, 0);
        }
    }

    public static final int O_TRUNC = 0x200;
    private static final short POSIX_SPAWN_SETSIGDEF = 0x04;
    private static final short POSIX_SPAWN_SETSIGMASK = 0x08;
    private static final int WNOHANG = 1;
    /** Larger than glibc's posix_spawn_file_actions_t (80 bytes), posix_spawnattr_t (336) and sigset_t (128). */
    private static final int OPAQUE = 1024;

    private static final class Holder {
        static final S SPAWN = load();

        private static S load() {
            try {
                return LibraryLoader.create(S.class).failImmediately()
                        .load(Platform.getNativePlatform().getStandardCLibraryName());
            } catch (LinkageError | RuntimeException e) {
                return null; // a C library without addclosefrom_np or addchdir_np
            }
        }
    }

    private Spawn() {
    }

    /** Whether this C library can spawn this way. */
    public static boolean available() {
        return Holder.SPAWN != null;
    }

    /**
     * Starts {@code argv} in {@code dir} with {@code env} as its whole environment and the
     * descriptors {@code fds} (every other one closed); returns its pid.
     *
     * @throws IOException when the program cannot be started (its errno in the message)
     */
    public static int start(List<String> argv, Map<String, String> env, Path dir, List<Open> fds) throws IOException {
        S s = Holder.SPAWN;
        if (s == null) {
            throw new IOException("posix_spawn with closefrom is not available in this C library");
        }
        jnr.ffi.Runtime rt = Libc.runtime();
        Pointer actions = Memory.allocateDirect(rt, OPAQUE, true);
        Pointer attr = Memory.allocateDirect(rt, OPAQUE, true);
        Pointer empty = Memory.allocateDirect(rt, OPAQUE, true);
        Pointer all = Memory.allocateDirect(rt, OPAQUE, true);
        Pointer pid = Memory.allocateDirect(rt, 8, true);
        List<Pointer> keep = new ArrayList<>();
        check(s.posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init");
        try {
            check(s.posix_spawnattr_init(attr), "posix_spawnattr_init");
            try {
                int max = 2;
                for (Open o : fds) {
                    check(s.posix_spawn_file_actions_addopen(actions, o.fd(), o.path().toString(), o.flags(), o.mode()),
                            "addopen " + o.path());
                    max = Math.max(max, o.fd());
                }
                check(s.posix_spawn_file_actions_addchdir_np(actions, dir.toString()), "addchdir " + dir);
                check(s.posix_spawn_file_actions_addclosefrom_np(actions, max + 1), "addclosefrom");
                s.sigemptyset(empty);
                s.sigfillset(all);
                check(s.posix_spawnattr_setsigmask(attr, empty), "setsigmask");
                check(s.posix_spawnattr_setsigdefault(attr, all), "setsigdefault");
                check(s.posix_spawnattr_setflags(attr, (short) (POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)),
                        "setflags");
                List<String> envp = new ArrayList<>();
                env.forEach((k, v) -> envp.add(k + "=" + v));
                int r = s.posix_spawn(pid, argv.get(0), actions, attr, strings(rt, argv, keep), strings(rt, envp, keep));
                if (r != 0) {
                    throw new IOException("cannot start " + argv.get(0) + ": " + Libc.describe(r));
                }
                return pid.getInt(0);
            } finally {
                s.posix_spawnattr_destroy(attr);
            }
        } finally {
            s.posix_spawn_file_actions_destroy(actions);
            keep.clear();
        }
    }

    /**
     * Waits up to {@code timeoutMs} for the child {@code pid} to end and reaps it; returns its
     * exit status, or -1 when it still runs (it is then killed and reaped).
     */
    public static int reap(int pid, long timeoutMs) {
        S s = Holder.SPAWN;
        int[] status = new int[1];
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        while (true) {
            int r = s.waitpid(pid, status, WNOHANG);
            if (r == pid) {
                return (status[0] & 0x7f) == 0 ? (status[0] >> 8) & 0xff : 128 + (status[0] & 0x7f);
            }
            if (r < 0 && Libc.errno() != Libc.EINTR) {
                return -1; // not our child (any more)
            }
            if (System.nanoTime() - deadline > 0) {
                Libc.c().kill(pid, 9);
                s.waitpid(pid, status, 0);
                return -1;
            }
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                Libc.c().kill(pid, 9);
                s.waitpid(pid, status, 0);
                return -1;
            }
        }
    }

    /** A NULL-terminated {@code char *[]} of {@code values}; the memory stays reachable through {@code keep}. */
    private static Pointer strings(jnr.ffi.Runtime rt, List<String> values, List<Pointer> keep) {
        Pointer array = Memory.allocateDirect(rt, (values.size() + 1) * 8L, true);
        keep.add(array);
        for (int i = 0; i < values.size(); i++) {
            byte[] b = values.get(i).getBytes(StandardCharsets.UTF_8);
            Pointer p = Memory.allocateDirect(rt, b.length + 1, true);
            p.put(0, b, 0, b.length);
            keep.add(p);
            array.putAddress(i * 8L, p.address());
        }
        return array;
    }

    private static void check(int r, String what) throws IOException {
        if (r != 0) {
            throw new IOException(what + ": " + Libc.describe(r));
        }
    }
}
