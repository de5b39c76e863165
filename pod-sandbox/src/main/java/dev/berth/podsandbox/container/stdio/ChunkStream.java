package dev.berth.podsandbox.container.stdio;

import java.io.InputStream;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * An input stream fed chunk by chunk by another thread, bounded so that a slow reader holds
 * the feeder back; closing it drops what is queued and anything fed later.
 */
final class ChunkStream extends InputStream {
    private static final byte[] END = new byte[0];

    private final BlockingQueue<byte[]> chunks = new ArrayBlockingQueue<>(64);
    private volatile boolean closed;
    private byte[] current;
    private int pos;

    /** Queues a copy of {@code len} bytes; waits while the queue is full, unless the stream is closed. */
    void feed(byte[] b, int off, int len) throws InterruptedException {
        byte[] copy = java.util.Arrays.copyOfRange(b, off, off + len);
        while (!closed) {
            if (chunks.offer(copy, 100, TimeUnit.MILLISECONDS)) {
                return;
            }
        }
    }

    /** Marks the end of the data. */
    void end() {
        while (!closed) {
            try {
                if (chunks.offer(END, 100, TimeUnit.MILLISECONDS)) {
                    return;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @Override
    public synchronized int read() {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public synchronized int read(byte[] b, int off, int len) {
        if (len == 0) {
            return 0;
        }
        while (current == null || pos == current.length) {
            if (current == END || closed) {
                current = END;
                return -1;
            }
            try {
                current = chunks.poll(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return -1;
            }
            pos = 0;
        }
        int n = Math.min(len, current.length - pos);
        System.arraycopy(current, pos, b, off, n);
        pos += n;
        return n;
    }

    @Override
    public void close() {
        closed = true;
        chunks.clear();
    }
}
