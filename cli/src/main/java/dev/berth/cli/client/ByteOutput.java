package dev.berth.cli.client;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * The bytes a container wrote, to the command's output: the process's own stdout and stderr
 * unchanged when the command line prints to them ({@link #stdout()}, {@link #stderr()}, set by
 * {@code Main.main}), so {@code berth exec c cat file > copy} copies exactly; decoded as UTF-8
 * into any other writer (a test's, in process).
 */
public final class ByteOutput {
    private ByteOutput() {
    }

    /** A writer on a process stream that also hands out the stream for bytes. */
    static final class StreamWriter extends PrintWriter {
        private final PrintStream stream;

        StreamWriter(PrintStream stream) {
            super(stream, true);
            this.stream = stream;
        }
    }

    /** The command line's stdout writer in a real process. */
    public static PrintWriter stdout() {
        return new StreamWriter(System.out);
    }

    /** The command line's stderr writer in a real process. */
    public static PrintWriter stderr() {
        return new StreamWriter(System.err);
    }

    /** A byte stream onto {@code w}: its process stream when it has one, else UTF-8 decoded into it. */
    static OutputStream of(PrintWriter w) {
        w.flush();
        if (w instanceof StreamWriter s) {
            return s.stream;
        }
        return new Decoding(w);
    }

    /** Decodes UTF-8 as it comes (a character split between writes is completed by the next); malformed bytes become U+FFFD. */
    static final class Decoding extends OutputStream {
        private final Writer out;
        private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE);
        private final ByteBuffer pending = ByteBuffer.allocate(8192);
        private final CharBuffer chars = CharBuffer.allocate(8192);

        Decoding(Writer out) {
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) throws IOException {
            while (len > 0) {
                int n = Math.min(len, pending.remaining());
                pending.put(b, off, n);
                off += n;
                len -= n;
                pending.flip();
                while (true) {
                    var r = decoder.decode(pending, chars, false);
                    drain();
                    if (!r.isOverflow()) {
                        break;
                    }
                }
                pending.compact();
            }
            out.flush();
        }

        private void drain() throws IOException {
            chars.flip();
            out.append(chars);
            chars.clear();
        }

        @Override
        public void flush() throws IOException {
            out.flush();
        }
    }
}
