package dev.berth.networking.cni;

import dev.berth.common.BerthException;
import dev.berth.common.OwnThread;
import dev.berth.host.Libc;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Brings {@code lo} up inside a pod's network namespace without a process: a short-lived
 * thread joins the namespace (setns affects only the calling thread), sets IFF_UP on
 * {@code lo} through SIOCGIFFLAGS/SIOCSIFFLAGS on a datagram socket, and ends, so no thread of
 * the daemon is ever left in a pod's namespace. The kernel gives {@code lo} its 127.0.0.1/8 and
 * ::1 when it comes up; this is what the loopback CNI plugin's ADD does, without forking it.
 */
final class LoopbackInterface {
    private static final int O_RDONLY_CLOEXEC = Libc.O_RDONLY | Libc.O_CLOEXEC;
    private static final int SOCK_DGRAM_CLOEXEC = Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC;
    private static final long SIOCGIFFLAGS = 0x8913;
    private static final long SIOCSIFFLAGS = 0x8914;
    private static final int IFF_UP = 0x1;
    /** struct ifreq: 16 bytes of name, then a union whose first member here is short ifr_flags. */
    private static final int IFREQ_SIZE = 40;
    private static final int IFNAMSIZ = 16;

    private LoopbackInterface() {
    }

    /** Sets {@code lo} up in the network namespace pinned at {@code netns}. */
    static void up(Path netns) {
        OwnThread.run("berth-netns-lo", "bringing lo up in " + netns, () -> upInThisThread(netns));
    }

    private static void upInThisThread(Path netns) {
        Libc.C c = Libc.c();
        int fd = c.open(netns.toString(), O_RDONLY_CLOEXEC);
        if (fd < 0) {
            throw fail("open " + netns);
        }
        try {
            if (c.setns(fd, Libc.CLONE_NEWNET) != 0) {
                throw fail("enter the network namespace " + netns);
            }
        } finally {
            c.close(fd);
        }
        int sock = c.socket(Libc.AF_INET, SOCK_DGRAM_CLOEXEC, 0);
        if (sock < 0) {
            throw fail("open a socket in " + netns);
        }
        try {
            byte[] ifr = new byte[IFREQ_SIZE];
            byte[] name = "lo".getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(name, 0, ifr, 0, name.length);
            if (c.ioctl(sock, SIOCGIFFLAGS, ifr) != 0) {
                throw fail("read the flags of lo in " + netns);
            }
            int flags = (ifr[IFNAMSIZ] & 0xff) | (ifr[IFNAMSIZ + 1] & 0xff) << 8;
            if ((flags & IFF_UP) != 0) {
                return;
            }
            flags |= IFF_UP;
            ifr[IFNAMSIZ] = (byte) flags;
            ifr[IFNAMSIZ + 1] = (byte) (flags >> 8);
            if (c.ioctl(sock, SIOCSIFFLAGS, ifr) != 0) {
                throw fail("set lo up in " + netns);
            }
        } finally {
            c.close(sock);
        }
    }

    private static BerthException fail(String what) {
        return BerthException.failedPrecondition("cannot %s: %s", what, Libc.describe(Libc.errno()));
    }
}
