package dev.berth.podsandbox.oci;

import dev.berth.common.BerthException;
import dev.berth.host.Command;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * An OCI runtime (runc, crun: the same command line) selected by a CRI runtime handler. Its
 * state lives under {@code stateRoot}, apart from any other user of the same binary.
 */
public record OciRuntime(String handler, String binary, Path stateRoot) {
    /**
     * {@code run -d}: creates and starts the container of {@code bundle}, detached; returns the
     * pid of its process. The container's stdio goes to {@code output} (never to a pipe berth
     * would wait on).
     */
    public long runDetached(String id, Path bundle, Path output) {
        Path pidFile = bundle.resolve("pid");
        List<String> argv = List.of(binary, "--root", stateRoot.toString(), "run", "--detach",
                "--bundle", bundle.toString(), "--pid-file", pidFile.toString(), id);
        try {
            Files.createDirectories(stateRoot);
            Command.Result r = Command.of(argv).appendOutputTo(output).timeout(Duration.ofSeconds(60))
                    .onTimeout(Process::destroyForcibly).execute();
            if (r.timedOut()) {
                throw BerthException.deadlineExceeded("%s run %s did not finish within 60 s", binary, id);
            }
            if (r.exitCode() != 0) {
                String out = Files.exists(output) ? Files.readString(output).strip() : "";
                throw BerthException.internal(binary + " run " + id + " failed with exit status " + r.exitCode() + ": " + out, null);
            }
            return Long.parseLong(Files.readString(pidFile).strip());
        } catch (IOException e) {
            throw BerthException.internal("cannot run " + binary + " for " + id, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted while starting " + id, e);
        } catch (NumberFormatException e) {
            throw BerthException.internal(binary + " wrote no usable pid file for " + id, e);
        }
    }

    /** {@code delete --force}: kills the container's processes and forgets it. Idempotent. */
    public void forceDelete(String id) {
        Command.Result r = Command.run(binary, "--root", stateRoot.toString(), "delete", "--force", id);
        if (!r.ok() && exists(id)) {
            throw BerthException.internal(binary + " delete --force " + id + " failed: " + r.stderr().strip(), null);
        }
    }

    /** Whether the runtime still knows the container. */
    public boolean exists(String id) {
        return Files.exists(stateRoot.resolve(id));
    }
}
