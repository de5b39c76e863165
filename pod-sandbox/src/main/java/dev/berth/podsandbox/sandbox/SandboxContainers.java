package dev.berth.podsandbox.sandbox;

/**
 * What the sandbox lifecycle asks of the container lifecycle: stop every container of a pod
 * (StopPodSandbox) and remove them (RemovePodSandbox). The container service is one;
 * {@link #NONE} says a pod has no containers (a sandbox lifecycle on its own).
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
