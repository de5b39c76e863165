package dev.berth.podsandbox.container.conmon;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * conmon's control FIFO ({@code ctl} in the container's bundle): one line per request,
 * {@code "<event> <height> <width>\n"}, where event 1 sets the size of the container's
 * terminal and event 2 makes conmon reopen the container's log file.
 */
public final class ConmonControl {
    static final int RESIZE = 1;
    static final int REOPEN_LOG = 2;

    private ConmonControl() {
    }

    /** The line that sets the container's terminal to {@code width} x {@code height} characters. */
    public static byte[] resize(int width, int height) {
        return line(RESIZE, height, width);
    }

    /** The line that makes conmon reopen the log file. */
    static byte[] reopenLog() {
        return line(REOPEN_LOG, 0, 0);
    }

    /**
     * Asks conmon to reopen the container's log file. Opening the FIFO for reading and
     * writing never blocks, even if conmon were gone.
     *
     * @param ctl the control FIFO ({@link dev.berth.podsandbox.oci.OciRuntime.Layout#ctlFifo()})
     */
    public static void reopenLog(Path ctl) throws IOException {
        try (FileChannel ch = FileChannel.open(ctl, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(reopenLog()));
        }
    }

    private static byte[] line(int event, int height, int width) {
        return (event + " " + height + " " + width + "\n").getBytes(StandardCharsets.US_ASCII);
    }
}
