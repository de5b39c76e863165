package dev.berth.host;

import dev.berth.common.BerthException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * User namespaces with given id mappings, made for idmapped mounts and pods. The daemon is
 * multithreaded and so cannot unshare a user namespace itself: a short-lived helper
 * ({@code unshare --user}) makes it and waits; berth, as root in the parent namespace, writes
 * its uid and gid maps, opens {@code /proc/PID/ns/user} and ends the helper at once. The
 * namespace then lives on through the open descriptor ({@link Handle}) and, once
 * {@link Handle#pin pinned}, through a bind mount of it; an idmapped mount made with it keeps
 * its own reference.
 */
public final class UserNamespaces {
    /** One line of a uid or gid map: ids {@code inside .. inside+size-1} are host ids {@code host ..}. */
    public record Mapping(long inside, long host, long size) {
        public Mapping {
            if (inside < 0 || host < 0 || size <= 0 || inside + size > 0x1_0000_0000L || host + size > 0x1_0000_0000L) {
                throw BerthException.invalidArgument("invalid id mapping %d:%d:%d (inside:host:size)", inside, host, size);
            }
        }

        String line() {
            return inside + " " + host + " " + size + "\n";
        }
    }

    private UserNamespaces() {
    }

    /**
     * A user namespace held open by this process. {@link #path()} names it for whatever opens a
     * namespace by path ({@link IdmappedMounts#bind}, setns through a helper) as long as the
     * handle is open; {@link #close()} drops this process's reference (the namespace ends with
     * its last one: a pin, an idmapped mount, a process in it).
     */
    public static final class Handle implements AutoCloseable {
        private int fd;

        private Handle(int fd) {
            this.fd = fd;
        }

        public int fd() {
            if (fd < 0) {
                throw new IllegalStateException("user namespace handle closed");
            }
            return fd;
        }

        /** {@code /proc/self/fd/N}: opening it opens the namespace. */
        public Path path() {
            return Path.of("/proc/self/fd/" + fd());
        }

        /** Pins the namespace at {@code file} (an existing empty file) by a bind mount; undone by unmounting it. */
        public void pin(Path file) {
            if (Libc.c().mount(path().toString(), file.toString(), null, Libc.MS_BIND, null) != 0) {
                throw BerthException.internal("cannot pin a user namespace at " + file + ": " + Libc.describe(Libc.errno()), null);
            }
        }

        @Override
        public void close() {
            if (fd >= 0) {
                Libc.c().close(fd);
                fd = -1;
            }
        }
    }

    /** A new user namespace with these maps (each at least one line; the kernel allows 340). */
    public static Handle create(List<Mapping> uids, List<Mapping> gids) {
        if (uids.isEmpty() || gids.isEmpty()) {
            throw BerthException.invalidArgument("a user namespace needs both a uid and a gid mapping");
        }
        int[] fd = {-1};
        inHelper(List.of(), lines(uids), lines(gids), proc -> {
            fd[0] = Libc.c().open(proc.resolve("ns/user").toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
            if (fd[0] < 0) {
                throw BerthException.internal("cannot open " + proc.resolve("ns/user") + ": " + Libc.describe(Libc.errno()), null);
            }
        });
        return new Handle(fd[0]);
    }

    /**
     * Runs {@code whileAlive} on the {@code /proc/PID} of a short-lived helper that is in a new
     * user namespace with these maps (and in new namespaces of {@code moreNamespaces}, e.g.
     * {@code --net}: those are owned by the user namespace), then ends the helper. The daemon is
     * multithreaded and so can neither unshare a user namespace nor join one: the helper,
     * {@code unshare --user ... -- sh}, says it is ready and waits on its stdin; berth, root in
     * the parent namespace, writes the maps from outside (util-linux's own {@code --map-users}
     * would need newuidmap and /etc/subuid) and takes what it needs from the helper's
     * {@code /proc/PID/ns/*} (an open descriptor, a bind mount) before it goes.
     */
    public static void inHelper(List<String> moreNamespaces, String uidMap, String gidMap, java.util.function.Consumer<Path> whileAlive) {
        List<String> argv = new java.util.ArrayList<>(List.of("unshare", "--user"));
        argv.addAll(moreNamespaces);
        argv.addAll(List.of("--", "/bin/sh", "-c", "echo ready; read x"));
        Process helper;
        try {
            helper = Command.of(argv).stdin(ProcessBuilder.Redirect.PIPE).start();
        } catch (IOException e) {
            throw BerthException.internal("cannot start a helper for a user namespace (unshare): " + e.getMessage(), e);
        }
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(helper.getInputStream(), StandardCharsets.UTF_8));
            if (!"ready".equals(out.readLine())) {
                helper.waitFor();
                String err = new String(helper.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
                throw BerthException.internal("cannot make a user namespace (" + String.join(" ", argv) + " exited "
                        + helper.exitValue() + "): " + err, null);
            }
            Path proc = Path.of("/proc", Long.toString(helper.pid()));
            writeMap(proc.resolve("uid_map"), uidMap);
            writeMap(proc.resolve("gid_map"), gidMap);
            whileAlive.accept(proc);
        } catch (IOException e) {
            throw BerthException.internal("cannot make a user namespace: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted while making a user namespace");
        } finally {
            helper.destroyForcibly();
            try {
                helper.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            closeQuietly(helper.getOutputStream());
            closeQuietly(helper.getInputStream());
            closeQuietly(helper.getErrorStream());
        }
    }

    private static String lines(List<Mapping> mappings) {
        StringBuilder b = new StringBuilder();
        mappings.forEach(m -> b.append(m.line()));
        return b.toString();
    }

    /** A new user namespace with these maps, pinned at {@code file} (an existing empty file); no descriptor stays open. */
    public static void createPinned(Path file, List<Mapping> uids, List<Mapping> gids) {
        try (Handle h = create(uids, gids)) {
            h.pin(file);
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // the pipe of a helper that is gone
        }
    }

    /** The map is written in one write(2), as the kernel requires. */
    private static void writeMap(Path file, String map) {
        try {
            Files.writeString(file, map);
        } catch (IOException e) {
            throw BerthException.invalidArgument("cannot write the user namespace map %s: %s (%s)", file,
                    map.strip().replace('\n', ','), e.getMessage());
        }
    }
}
