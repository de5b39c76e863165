package dev.berth.agent;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * One agent per state directory: an exclusive lock on {@code <state dir>/agent.lock}, holding
 * the holder's pid. The kernel drops the lock when its process ends, however it ends, so a
 * crashed agent never blocks the next one; a second live agent is refused, named by its pid.
 */
public final class StateLock implements AutoCloseable {
    static final String FILE = "agent.lock";

    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;

    private StateLock(Path file, FileChannel channel, FileLock lock) {
        this.file = file;
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Creates the state directory (0700) if needed and takes its lock.
     * @throws BerthException ALREADY_EXISTS naming the holder's pid when another agent holds it
     */
    public static StateLock acquire(Path stateDir) {
        Path file = stateDir.resolve(FILE);
        FileChannel ch;
        try {
            Files.createDirectories(stateDir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot open the agent's lock %s: %s", file, e.getMessage());
        }
        try {
            FileLock lock;
            try {
                lock = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null; // this process holds it already
            }
            if (lock == null) {
                String holder = holder(ch);
                ch.close();
                throw BerthException.alreadyExists("another berth agent (pid %s) holds the state directory %s (lock %s);"
                        + " one agent per state root", holder, stateDir, file);
            }
            ch.truncate(0);
            ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
            ch.force(false);
            return new StateLock(file, ch, lock);
        } catch (IOException e) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // already failing
            }
            throw BerthException.failedPrecondition("cannot lock %s: %s", file, e.getMessage());
        }
    }

    private static String holder(FileChannel ch) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(32);
        ch.read(buf, 0);
        String pid = new String(buf.array(), 0, buf.position(), StandardCharsets.US_ASCII).trim();
        return pid.matches("[0-9]+") ? pid : "unknown";
    }

    public Path file() {
        return file;
    }

    /** Releases the lock; the file stays (removing it would race with the next agent's lock). */
    @Override
    public void close() {
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            // closing the channel releases the lock in any case
        }
    }
}
