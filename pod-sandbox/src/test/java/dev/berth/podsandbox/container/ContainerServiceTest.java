package dev.berth.podsandbox.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.berth.common.BerthException;
import dev.berth.podsandbox.container.spec.ImageConfig;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What the container service derives from a pod and an image before it creates a container. */
class ContainerServiceTest {
    @Test
    void theLogPathIsTheSandboxLogDirectoryJoinedWithTheContainerLogPath() {
        assertEquals("/var/log/pods/p/app/0.log", ContainerService.logPath("/var/log/pods/p", "app/0.log"));
        assertEquals("", ContainerService.logPath("/var/log/pods/p", ""), "no log path: the engine's default");
        assertEquals("/abs/0.log", ContainerService.logPath("", "/abs/0.log"));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, assertThrows(BerthException.class,
                () -> ContainerService.logPath("/var/log/pods/p", "../../escape.log")).kind());
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, assertThrows(BerthException.class,
                () -> ContainerService.logPath("", "relative.log")).kind());
    }

    @Test
    void logPathsAndLogDirectoriesMustBeCleanAndStayInside() {
        for (String[] bad : new String[][] {
                {"/var/log/pods/p", "app/../../../etc/0.log"},
                {"/var/log/pods/p", "app/../0.log"},
                {"/var/log/pods/p", "./app/0.log"},
                {"/var/log/pods/p", "/etc/cron.d/x"},
                {"/var/log/pods/p", "/var/log/pods/p/app/0.log"},
                {"var/log/pods/p", "app/0.log"},
                {"/var/log/pods/../../etc", "app/0.log"},
                {"/var/log/pods/./p", "app/0.log"},
                {"/var/log/pods/p", "app/0\0.log"},
                {"", "/var/log/../../etc/x.log"}}) {
            assertEquals(BerthException.Kind.INVALID_ARGUMENT, assertThrows(BerthException.class,
                    () -> ContainerService.logPath(bad[0], bad[1]), String.join(" + ", bad)).kind(), String.join(" + ", bad));
        }
        assertEquals("/var/log/pods/p/app/0.log", ContainerService.logPath("/var/log/pods/p/", "app//0.log"));
    }

    @Test
    void theImageConfigComesFromTheStoredImageJson() throws Exception {
        ImageConfig ic = ContainerImages.imageConfig(new ObjectMapper().readTree("""
                {"config":{"Entrypoint":["/entry"],"Cmd":["a","b"],"Env":["PATH=/bin"],"WorkingDir":"/w",
                 "User":"nobody","StopSignal":"SIGQUIT"}}"""));
        assertEquals(new ImageConfig(List.of("/entry"), List.of("a", "b"), List.of("PATH=/bin"), "/w", "nobody", "SIGQUIT"), ic);
        ImageConfig empty = ContainerImages.imageConfig(new ObjectMapper().readTree("{}"));
        assertEquals(ImageConfig.empty(), empty);
        assertFalse(empty.cmd().iterator().hasNext());
    }
}
