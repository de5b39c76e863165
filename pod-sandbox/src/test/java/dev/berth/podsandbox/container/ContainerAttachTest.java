package dev.berth.podsandbox.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.berth.common.BerthException;
import dev.berth.podsandbox.container.stdio.ContainerAttachment;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** ContainerManager.attach against real runc containers under conmon. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
@Tag("root")
class ContainerAttachTest {
    ContainerFixture fx;
    ContainerManager m;

    @BeforeEach
    void setUp() throws Exception {
        fx = new ContainerFixture();
        m = fx.manager();
    }

    @AfterEach
    void tearDown() throws Exception {
        fx.close();
    }

    private static String readLine(InputStream in) throws Exception {
        StringBuilder b = new StringBuilder();
        int c;
        while ((c = in.read()) >= 0) {
            b.append((char) c);
            if (c == '\n') {
                break;
            }
        }
        return b.toString();
    }

    @Test
    void stdinGoesInOutputComesOutAndDetachLeavesTheContainer() throws Exception {
        String id = m.create(ContainerManager.newId(), fx.request(fx.config("cat").command("cat").stdin(true).build())).id();
        m.start(id);
        ContainerAttachment a = m.attach(id);
        a.stdin().write("ping\n".getBytes(StandardCharsets.UTF_8));
        assertEquals("ping\n", readLine(a.stdout()));
        a.detach();
        assertEquals(0, a.exit().get(30, TimeUnit.SECONDS));
        assertEquals(ContainerState.RUNNING, m.status(id).state());

        ContainerAttachment again = m.attach(id);
        again.stdin().write("pong\n".getBytes(StandardCharsets.UTF_8));
        assertEquals("pong\n", readLine(again.stdout()));
        again.stdin().close(); // not stdin-once: the container's stdin stays open
        again.detach();
        assertEquals(ContainerState.RUNNING, m.status(id).state());
    }

    @Test
    void theContainersExitEndsTheAttachmentWithItsCode() throws Exception {
        String id = m.create(ContainerManager.newId(), fx.request(fx.config("once").command("sh").args("-c", "read x; echo got $x; exit 5")
                .stdin(true).stdinOnce(true).build())).id();
        m.start(id);
        ContainerAttachment a = m.attach(id);
        a.stdin().write("it\n".getBytes(StandardCharsets.UTF_8));
        assertEquals("got it\n", readLine(a.stdout()));
        assertEquals(5, a.exit().get(60, TimeUnit.SECONDS));
        assertEquals(-1, a.stdout().read());
    }

    @Test
    void aContainerThatIsNotRunningCannotBeAttached() throws Exception {
        String id = m.create(ContainerManager.newId(), fx.request(fx.config("idle").command("sleep").args("1000").build())).id();
        assertEquals(BerthException.Kind.FAILED_PRECONDITION,
                assertThrows(BerthException.class, () -> m.attach(id)).kind());
        assertEquals(BerthException.Kind.NOT_FOUND, assertThrows(BerthException.class, () -> m.attach("nope")).kind());
    }
}
