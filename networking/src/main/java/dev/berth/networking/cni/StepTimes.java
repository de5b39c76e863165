package dev.berth.networking.cni;

/** Wall time of each step of one CNI call, for a debug log line ({@code bridge 12.3 ms, portmap 4.0 ms}). */
final class StepTimes {
    private final boolean enabled;
    private final StringBuilder out = new StringBuilder();
    private long last = System.nanoTime();

    StepTimes(boolean enabled) {
        this.enabled = enabled;
    }

    void mark(String step) {
        if (!enabled) {
            return;
        }
        long now = System.nanoTime();
        if (out.length() > 0) {
            out.append(", ");
        }
        out.append(String.format("%s %.1f ms", step, (now - last) / 1e6));
        last = now;
    }

    @Override
    public String toString() {
        return out.toString();
    }
}
