package dev.berth.podsandbox.sandbox;

/**
 * What the sandbox lifecycle asks of the container lifecycle: stop every container of a pod
 * (StopPodSandbox) and remove them (RemovePodSandbox). Containers are not built yet; until then
 * {@link #NONE} says there are none.
 */
public interface SandboxContainers {
    SandboxContainers NONE = new SandboxContainers() {
        @Override
        public void stopAll(String sandboxId) {
        }

        @Override
        public void removeAll(String sandboxId) {
        }
    };

    /** Stops every container of the sandbox (grace period per container). Idempotent. */
    void stopAll(String sandboxId);

    /** Removes every container of the sandbox. Idempotent. */
    void removeAll(String sandboxId);
}
