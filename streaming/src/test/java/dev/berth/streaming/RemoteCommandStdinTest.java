package dev.berth.streaming;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A client that floods stdin to a process that never reads it: berth pauses reading the client,
 * and a transport that delivers more anyway ends the session; the queued stdin stays bounded.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class RemoteCommandStdinTest {
    final CountDownLatch killed = new CountDownLatch(1);
    final CompletableFuture<Integer> exit = new CompletableFuture<>();
    final CountDownLatch started = new CountDownLatch(1);
    volatile boolean paused;
    final CompletableFuture<String> finished = new CompletableFuture<>();

    /** A process whose stdin pipe is full: every write blocks until it is killed. */
    final ExecBackend backend = request -> {
        started.countDown();
        return new ExecBackend.Session() {
            @Override
            public OutputStream stdin() {
                return new OutputStream() {
                    @Override
                    public void write(int b) throws java.io.IOException {
                        write(new byte[] {(byte) b}, 0, 1);
                    }

                    @Override
                    public void write(byte[] b, int off, int len) throws java.io.IOException {
                        try {
                            killed.await();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        throw new java.io.IOException("broken pipe");
                    }
                };
            }

            @Override
            public InputStream stdout() {
                return new InputStream() {
                    @Override
                    public int read() throws java.io.IOException {
                        try {
                            killed.await();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        return -1;
                    }
                };
            }

            @Override
            public InputStream stderr() {
                return null;
            }

            @Override
            public CompletableFuture<Integer> exit() {
                return exit;
            }

            @Override
            public void kill() {
                killed.countDown();
                exit.complete(137);
            }
        };
    };

    /** Records pauses but goes on delivering, as bytes decoded before a pause took effect do. */
    final RemoteCommand.Transport transport = new RemoteCommand.Transport() {
        @Override
        public void send(int stream, byte[] buf, int len) {
        }

        @Override
        public void finish(String statusJson) {
            finished.complete(statusJson);
        }

        @Override
        public boolean isOpen() {
            return !finished.isDone();
        }

        @Override
        public void onClose(Runnable r) {
        }

        @Override
        public void pauseInput(boolean p) {
            paused = p;
        }
    };

    @Test
    void aStdinFloodToAProcessThatNeverReadsStaysBounded() throws Exception {
        RemoteCommand command = new RemoteCommand(new StreamRequest.Exec("c1", List.of("sleep", "1000"), false, true, true,
                false), backend, transport);
        command.start();
        assertTrue(started.await(30, TimeUnit.SECONDS));
        byte[] chunk = new byte[32 * 1024];
        long most = 0;
        boolean pausedAtSomePoint = false;
        for (int i = 0; i < 2048 && !finished.isDone(); i++) { // 64 MiB
            command.stdin(chunk);
            pausedAtSomePoint |= paused;
            most = Math.max(most, queued(command));
        }
        assertTrue(pausedAtSomePoint, "the client was paused");
        assertTrue(most <= 4L * 1024 * 1024 + 64 * 1024, "stdin queued at most: " + most);
        String status = finished.get(30, TimeUnit.SECONDS);
        assertTrue(status.contains("Failure") && status.contains("stdin"), status);
        assertTrue(killed.await(30, TimeUnit.SECONDS), "the process is killed");
    }

    /** Bytes of stdin in the session's queue. */
    @SuppressWarnings("unchecked")
    private static long queued(RemoteCommand command) throws Exception {
        var f = RemoteCommand.class.getDeclaredField("stdinQueue");
        f.setAccessible(true);
        long n = 0;
        for (byte[] b : (java.util.Collection<byte[]>) f.get(command)) {
            n += b.length;
        }
        return n;
    }
}
