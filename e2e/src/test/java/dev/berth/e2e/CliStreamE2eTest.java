package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code berth logs}, {@code exec}, {@code attach} and {@code port-forward} against a real
 * berth daemon: most commands in process, the ones whose exit code, terminal or lifetime
 * matter through the launcher; {@code exec -it} and {@code attach -it} inside tmux, whose
 * pseudo-terminal is resized while the session runs.
 */
@Tag("root")
class CliStreamE2eTest {
    private static final String BRIDGE = "berthcs0";
    private static final String SUBNET = "10.196.176.0/20";
    /** tmux's own server for this test (-L), killed at the end. */
    private static final String TMUX = "berth-cli-stream";
    private static final int ECHO_PORT = 7000;
    private static final long WAIT_SECONDS = 30;

    @TempDir
    Path dir;

    private BerthProcess berth;
    private String image;
    private final List<Process> processes = new ArrayList<>();

    @Test
    void logsExecAttachAndPortForwardAgainstBerth() throws Exception {
        Path config = Files.writeString(dir.resolve("daemon.toml"), BerthProcess.networkToml(dir, BRIDGE, SUBNET));
        String pod = null;
        try (RegistryFixture registry = RegistryFixture.start(dir.resolve("registry"))) {
            berth = BerthProcess.start(dir.resolve("berth"), "--config", config.toString(), "--metrics-address", "");
            try {
                TestImage.of(TestLayer.busybox().symlink("bin/sleep", "busybox").symlink("bin/cat", "busybox")
                        .symlink("bin/nc", "busybox").symlink("bin/stty", "busybox")
                        .build(TestLayer.Compression.GZIP)).push(registry.pusher(), "cli/busybox", "1");
                image = registry.host() + "/cli/busybox:1";
                berth.images().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(image)).build());
                pod = berth.runtime().runPodSandbox(ContainerE2eTest.pod("clistream", dir.resolve("logs"))).getPodSandboxId();
                BerthCli cli = new BerthCli(berth.socket());

                String printer = start(pod, "printer", false, "echo one; echo oops >&2; echo two; sleep 1; echo late");
                String follow = start(pod, "follow", false, "echo first; while [ ! -e /go ]; do sleep 0.1; done; echo second");
                String shell = start(pod, "shell", false, "sleep 1000");
                String console = start(pod, "console", true, "sh");
                String echo = start(pod, "echo", false, "nc -ll -p " + ECHO_PORT + " -e cat");

                exec(cli, shell);
                logsFollow(cli, follow);
                logs(cli, printer);
                execInATerminal(cli, shell);
                attachInATerminal(cli, console);
                portForward(cli, pod);

                BerthCli.Result missing = cli.run("exec", "no-such-container", "true");
                assertEquals(3, missing.exit(), missing.toString());
                assertEquals(3, cli.run("logs", "no-such-container").exit());
                assertEquals(3, cli.run("attach", "no-such-container").exit());
                assertEquals(3, cli.run("port-forward", "no-such-pod", "80").exit());
            } finally {
                for (Process p : processes) {
                    p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
                new ProcessBuilder("tmux", "-L", TMUX, "kill-server").redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor(10, TimeUnit.SECONDS);
                if (pod != null) {
                    berth.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
                    berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
                }
                if (berth != null) {
                    berth.close();
                }
            }
        } finally {
            // the daemon's default network made the bridge; nothing else removes it
            new ProcessBuilder("ip", "link", "delete", BRIDGE).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
        }
    }

    /** Creates and starts a container running {@code sh -c script} (with stdin and a terminal when {@code tty}). */
    private String start(String pod, String name, boolean tty, String script) {
        CreateContainerRequest r = ContainerE2eTest.request(pod, name, name + "/0.log");
        ContainerConfig.Builder c = r.getConfig().toBuilder().setImage(ImageSpec.newBuilder().setImage(image)).clearArgs();
        if (tty) {
            c.clearCommand().addCommand(script).setTty(true).setStdin(true);
        } else {
            c.addArgs("-c").addArgs(script);
        }
        String id = berth.runtime().createContainer(r.toBuilder().setConfig(c).build()).getContainerId();
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        return id;
    }

    private void exec(BerthCli cli, String shell) throws Exception {
        BerthCli.Result r = cli.run("exec", shell, "sh", "-c", "echo out; echo err >&2; echo $((6*7))");
        assertEquals(0, r.exit(), r.toString());
        assertEquals("out\n42\n", r.out(), r.toString());
        assertEquals("err\n", r.err(), r.toString());
        BerthCli.Result sync = cli.run("exec", "-s", shell, "sh", "-c", "echo synced; exit 3");
        assertEquals(3, sync.exit(), sync.toString());
        assertEquals("synced\n", sync.out(), sync.toString());
        // through the launcher: the process's exit code is the command's, and stdin reaches it
        BerthCli.Result seven = cli.launch(null, Map.of(), WAIT_SECONDS, "exec", shell, "sh", "-c", "exit 7");
        assertEquals(7, seven.exit(), seven.toString());
        BerthCli.Result cat = cli.launch("piped\n", Map.of(), WAIT_SECONDS, "exec", "-i", shell, "cat");
        assertEquals(0, cat.exit(), cat.toString());
        assertEquals("piped\n", cat.out(), cat.toString());
    }

    private void logs(BerthCli cli, String printer) throws Exception {
        BerthCli.Result all = awaitRun(cli, r -> r.out().contains("late"), "logs", printer);
        assertEquals("one\ntwo\nlate\n", all.out(), all.toString());
        assertEquals("oops\n", all.err(), all.toString());
        BerthCli.Result tail = cli.run("logs", "--tail", "1", printer);
        assertEquals("late\n", tail.out(), tail.toString());
        BerthCli.Result stamped = cli.run("logs", "-t", printer);
        Matcher late = Pattern.compile("(?m)^(\\S+) late$").matcher(stamped.out());
        assertTrue(late.find(), stamped.toString());
        assertEquals(3, stamped.out().lines().count(), stamped.toString());
        // "late" was written a second after the others: since its time, only it is left
        BerthCli.Result since = cli.run("logs", "--since", late.group(1), printer);
        assertEquals("late\n", since.out(), since.toString());
        assertEquals("", since.err(), since.toString());
        assertEquals("one\ntwo\nlate\n", cli.run("logs", "--since", "1h", printer).out());
    }

    /** {@code logs -f} through the launcher: prints what is there, then a line written later, and ends when the container exits. */
    private void logsFollow(BerthCli cli, String follow) throws Exception {
        Process p = launch("logs", "-f", follow);
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        assertEquals("first", out.readLine());
        BerthCli.Result go = cli.run("exec", follow, "sh", "-c", ": > /go");
        assertEquals(0, go.exit(), go.toString());
        assertEquals("second", out.readLine());
        assertTrue(p.waitFor(WAIT_SECONDS, TimeUnit.SECONDS), "logs -f did not end after the container exited");
        assertEquals(0, p.exitValue(), new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
        assertEquals(null, out.readLine());
    }

    private void execInATerminal(BerthCli cli, String shell) throws Exception {
        tmux("new-session", "-d", "-s", "exec", "-x", "100", "-y", "30",
                "sh -c '" + BerthProcess.launcher() + " exec -it --runtime-endpoint=" + cli.endpoint() + " " + shell + " sh; echo EXIT=$?; sleep 600'");
        String first = paneSize("exec");
        tmux("send-keys", "-t", "exec", "stty size", "Enter");
        awaitPane("exec", s -> line(s, first), "stty size to print " + first);
        tmux("resize-window", "-t", "exec", "-x", "120", "-y", "40");
        String second = paneSize("exec");
        assertFalse(first.equals(second), first);
        tmux("send-keys", "-t", "exec", "clear; stty size", "Enter");
        awaitPane("exec", s -> line(s, second), "stty size to print " + second + " after the resize");
        tmux("send-keys", "-t", "exec", "exit 4", "Enter");
        awaitPane("exec", s -> s.contains("EXIT=4"), "exec -it to exit with the shell's 4");
    }

    private void attachInATerminal(BerthCli cli, String console) throws Exception {
        tmux("new-session", "-d", "-s", "attach", "-x", "90", "-y", "25",
                "sh -c '" + BerthProcess.launcher() + " attach -it --runtime-endpoint=" + cli.endpoint() + " " + console + "; echo EXIT=$?; sleep 600'");
        // the attachment is up when typed keys come back through the container's terminal
        awaitPane("attach", s -> {
            tmuxQuietly("send-keys", "-t", "attach", "echo attached-$((6*7))", "Enter");
            return line(s, "attached-42");
        }, "the container's shell to answer through attach");
        tmux("send-keys", "-t", "attach", "exit 5", "Enter");
        awaitPane("attach", s -> s.contains("EXIT="), "attach to end when the container exited");
        String pane = capture("attach");
        assertTrue(pane.contains("EXIT=5"), pane);
    }

    private void portForward(BerthCli cli, String pod) throws Exception {
        Process p = launch("port-forward", pod, ":" + ECHO_PORT);
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        Matcher m = Pattern.compile("Forwarding from 127\\.0\\.0\\.1:(\\d+) -> " + ECHO_PORT).matcher(String.valueOf(line));
        assertTrue(m.matches(), line);
        int local = Integer.parseInt(m.group(1));
        byte[] sent = "ping through berth\n".getBytes(StandardCharsets.UTF_8);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
        byte[] back = null;
        // nc in the pod may not listen yet: a connection to it then ends at once, and another is tried
        while (back == null && System.nanoTime() < deadline) {
            try (Socket s = new Socket("127.0.0.1", local)) {
                s.setSoTimeout(10_000);
                OutputStream o = s.getOutputStream();
                o.write(sent);
                o.flush();
                back = s.getInputStream().readNBytes(sent.length);
                if (back.length < sent.length) {
                    back = null;
                    Thread.sleep(200);
                }
            }
        }
        assertTrue(back != null, "nothing came back through port-forward");
        assertEquals(new String(sent, StandardCharsets.UTF_8), new String(back, StandardCharsets.UTF_8));
        assertTrue(p.isAlive(), "port-forward runs until interrupted");
        p.destroy();
        assertTrue(p.waitFor(WAIT_SECONDS, TimeUnit.SECONDS), "port-forward did not end on SIGTERM");
    }

    private Process launch(String... args) throws IOException {
        List<String> argv = new ArrayList<>(List.of(BerthProcess.launcher().toString()));
        argv.add(args[0]);
        argv.add("--runtime-endpoint=unix://" + berth.socket());
        argv.addAll(List.of(args).subList(1, args.length));
        Process p = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        processes.add(p);
        return p;
    }

    private BerthCli.Result awaitRun(BerthCli cli, Predicate<BerthCli.Result> done, String... args) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
        BerthCli.Result r = cli.run(args[0], List.of(args).subList(1, args.length).toArray(String[]::new));
        while (!done.test(r) && System.nanoTime() < deadline) {
            Thread.sleep(100);
            r = cli.run(args[0], List.of(args).subList(1, args.length).toArray(String[]::new));
        }
        return r;
    }

    /** Whether {@code pane} has a line that is {@code text}. */
    private static boolean line(String pane, String text) {
        return pane.lines().anyMatch(l -> l.strip().equals(text));
    }

    /** "ROWS COLUMNS" of the session's pane, as stty size prints them. */
    private String paneSize(String session) throws Exception {
        return tmux("display-message", "-p", "-t", session, "#{pane_height} #{pane_width}").strip();
    }

    private String capture(String session) throws Exception {
        return tmux("capture-pane", "-p", "-t", session);
    }

    private void awaitPane(String session, Predicate<String> done, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
        String pane = capture(session);
        while (!done.test(pane)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("waited " + WAIT_SECONDS + " s for " + what + "; the pane shows:\n" + pane);
            }
            Thread.sleep(200);
            pane = capture(session);
        }
    }

    private static String tmux(String... args) throws Exception {
        List<String> argv = new ArrayList<>(List.of("tmux", "-L", TMUX));
        argv.addAll(List.of(args));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out;
        try (InputStream in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertTrue(p.waitFor(WAIT_SECONDS, TimeUnit.SECONDS), "tmux hung");
        assertEquals(0, p.exitValue(), String.join(" ", argv) + ": " + out);
        return out;
    }

    private static void tmuxQuietly(String... args) {
        try {
            tmux(args);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
