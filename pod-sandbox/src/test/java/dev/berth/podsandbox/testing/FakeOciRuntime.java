package dev.berth.podsandbox.testing;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.host.testing.FakeProcesses;
import dev.berth.podsandbox.oci.OciRuntime;
import dev.berth.podsandbox.oci.RuntimeHandlers;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * An OCI runtime in memory: containers by id and state, their processes (and monitors) in a
 * {@link FakeProcesses}, so liveness checks agree with it. A container that ends (a signal, or
 * {@link #exit}) gets the exit file its monitor would write; {@link #monitorDied} ends the
 * monitor alone. Every call is recorded in order ({@link #calls()}, e.g. "create ID",
 * "kill ID SIGTERM"); {@link #failNext} makes the next call of an operation fail as the real
 * runtime's would, leaving nothing of the container behind.
 */
public final class FakeOciRuntime implements OciRuntime {
    /** What the runtime knows of a container. */
    public enum State { CREATED, RUNNING, STOPPED, DELETED }

    /** One container: its process, its monitor (0 for a detached run) and where its exit file goes. */
    public record Container(String id, State state, long pid, long monitorPid, Path exitFile, Integer exitCode) {
        Container with(State s, Integer code) {
            return new Container(id, s, pid, monitorPid, exitFile, code);
        }
    }

    private final String handler;
    private final FakeProcesses processes;
    private final Map<String, Container> containers = new LinkedHashMap<>();
    private final List<String> calls = new ArrayList<>();
    private final Set<String> failNext = new HashSet<>();
    private final Set<String> ignoredSignals = new HashSet<>();
    private final List<Consumer<String>> observers = new ArrayList<>();
    private long nextPid = 40_000;

    public FakeOciRuntime(String handler, FakeProcesses processes) {
        this.handler = handler;
        this.processes = processes;
    }

    /** A registry with this runtime as its only (default) handler; a recorded handler is this runtime too. */
    public RuntimeHandlers handlers() {
        return new RuntimeHandlers(Map.of(handler, binary()), handler, (h, b) -> this);
    }

    /** Makes the next call of {@code operation} ("run", "create", "start", "kill", "delete", "forceDelete", "update") fail. */
    public synchronized void failNext(String operation) {
        failNext.add(operation);
    }

    /** Containers ignore {@code signal} ("SIGTERM", say) from now on, as a process without a handler for it would not. */
    public synchronized void ignore(String signal) {
        ignoredSignals.add(signal);
    }

    /** Hears every call as it is made (to interleave it with other fakes' steps). */
    public synchronized void observe(Consumer<String> observer) {
        observers.add(observer);
    }

    /** Every call so far, in order. */
    public synchronized List<String> calls() {
        return List.copyOf(calls);
    }

    public synchronized Optional<Container> container(String id) {
        return Optional.ofNullable(containers.get(id));
    }

    public synchronized Optional<State> state(String id) {
        return container(id).map(Container::state);
    }

    /** The containers the runtime still knows (not deleted). */
    public synchronized List<String> known() {
        return containers.values().stream().filter(c -> c.state() != State.DELETED).map(Container::id).toList();
    }

    /** The container's process ends with {@code code}; its monitor writes the exit file and ends too. */
    public synchronized void exit(String id, int code) {
        Container c = containers.get(id);
        if (c == null || (c.state() != State.RUNNING && c.state() != State.CREATED)) {
            throw new IllegalStateException("container " + id + " is not running");
        }
        end(c, code);
    }

    /** The container's monitor dies without writing an exit file; the container runs on, unwatched. */
    public synchronized void monitorDied(String id) {
        Container c = containers.get(id);
        processes.exit(c.monitorPid());
    }

    // ---------------------------------------------------------------- the infra process

    @Override
    public String handler() {
        return handler;
    }

    @Override
    public String binary() {
        return "fake-" + handler;
    }

    @Override
    public Path runtimeBinary() {
        return Path.of("/fake/bin", handler);
    }

    /** Runs the bundle's process: its command name is the base name of its args[0]. */
    @Override
    public synchronized long runDetached(String id, Path bundle, Path output) {
        call("run " + id);
        if (fails("run")) {
            throw BerthException.internal(binary() + " run " + id + " failed with exit status 1: scripted failure", null);
        }
        String command;
        try {
            JsonNode spec = Json.mapper().readTree(bundle.resolve("config.json").toFile());
            command = Path.of(spec.path("process").path("args").path(0).asText("init")).getFileName().toString();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        long pid = ++nextPid;
        processes.spawn(pid, command);
        containers.put(id, new Container(id, State.RUNNING, pid, 0, null, null));
        return pid;
    }

    @Override
    public synchronized void forceDelete(String id) {
        call("forceDelete " + id);
        if (fails("forceDelete")) {
            throw BerthException.internal(binary() + " delete --force " + id + " failed: scripted failure", null);
        }
        gone(id);
    }

    @Override
    public synchronized boolean exists(String id) {
        Container c = containers.get(id);
        return c != null && c.state() != State.DELETED;
    }

    // ---------------------------------------------------------------- containers under a monitor

    /** Like conmon: pid files in the bundle, a monitor process, the container CREATED. */
    @Override
    public synchronized Created create(String id, Layout layout, boolean terminal, boolean stdin, boolean stdinOnce,
            Duration timeout) {
        call("create " + id);
        if (fails("create")) {
            throw BerthException.failedPrecondition("%s could not create container %s: scripted failure", handler, id);
        }
        long pid = ++nextPid;
        long monitor = ++nextPid;
        processes.spawn(pid, "init");
        processes.spawn(monitor, "conmon");
        try {
            Files.createDirectories(layout.exitDir());
            Files.writeString(layout.pidFile(), Long.toString(pid));
            Files.writeString(layout.conmonPidFile(), Long.toString(monitor));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        containers.put(id, new Container(id, State.CREATED, pid, monitor, layout.exitFile(id), null));
        return new Created(pid, monitor);
    }

    @Override
    public synchronized void start(String id) {
        call("start " + id);
        Container c = containers.get(id);
        if (fails("start") || c == null || c.state() != State.CREATED) {
            throw BerthException.failedPrecondition("%s could not start container %s: %s", handler, id,
                    c == null ? "does not exist" : "scripted failure or " + c.state());
        }
        containers.put(id, c.with(State.RUNNING, null));
    }

    /** As {@code runc state}: "created", "running", "stopped"; empty for an unknown or deleted container. A read: not in {@link #calls()}. */
    @Override
    public synchronized Optional<String> status(String id) {
        Container c = containers.get(id);
        if (c == null || c.state() == State.DELETED) {
            return Optional.empty();
        }
        return Optional.of(c.state().name().toLowerCase(java.util.Locale.ROOT));
    }

    /** SIGKILL, and any other signal not {@linkplain #ignore ignored}, ends the container with 128 + its number. */
    @Override
    public synchronized boolean kill(String id, String signal) {
        call("kill " + id + " " + signal);
        if (fails("kill")) {
            throw BerthException.unavailable("%s could not signal container %s: scripted failure", handler, id);
        }
        Container c = containers.get(id);
        if (c == null || (c.state() != State.RUNNING && c.state() != State.CREATED)) {
            return false;
        }
        if (!signal.equals("SIGKILL") && ignoredSignals.contains(signal)) {
            return true;
        }
        end(c, 128 + number(signal));
        return true;
    }

    @Override
    public synchronized void delete(String id) {
        call("delete " + id);
        if (fails("delete")) {
            throw BerthException.unavailable("%s could not delete container %s: scripted failure", handler, id);
        }
        gone(id);
    }

    @Override
    public synchronized void update(String id, Path resourcesJson) {
        call("update " + id);
        if (fails("update") || !exists(id)) {
            throw BerthException.failedPrecondition("%s could not update container %s", handler, id);
        }
    }

    @Override
    public synchronized List<String> execCommand(String id, Path processJson, Path pidFile) {
        call("exec " + id);
        return List.of("/bin/false", id, processJson.toString(), pidFile.toString());
    }

    // ---------------------------------------------------------------- helpers

    private void call(String call) {
        calls.add(call);
        observers.forEach(o -> o.accept(call));
    }

    private boolean fails(String operation) {
        return failNext.remove(operation);
    }

    private void end(Container c, int code) {
        processes.exit(c.pid());
        if (c.exitFile() != null) {
            try {
                Files.writeString(c.exitFile(), Integer.toString(code));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        if (c.monitorPid() > 0) {
            processes.exit(c.monitorPid());
        }
        containers.put(c.id(), c.with(State.STOPPED, code));
    }

    private void gone(String id) {
        Container c = containers.get(id);
        if (c == null) {
            return;
        }
        processes.exit(c.pid());
        if (c.monitorPid() > 0) {
            processes.exit(c.monitorPid());
        }
        containers.put(id, c.with(State.DELETED, c.exitCode()));
    }

    private static int number(String signal) {
        return switch (signal) {
            case "SIGKILL" -> 9;
            case "SIGTERM" -> 15;
            case "SIGINT" -> 2;
            case "SIGQUIT" -> 3;
            case "SIGHUP" -> 1;
            case "SIGUSR1" -> 10;
            case "SIGUSR2" -> 12;
            default -> signal.chars().allMatch(Character::isDigit) ? Integer.parseInt(signal) : 15;
        };
    }
}
