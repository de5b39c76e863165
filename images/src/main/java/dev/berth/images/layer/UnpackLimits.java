package dev.berth.images.layer;

import dev.berth.common.BerthException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * How much one layer and one image may unpack: uncompressed tar bytes (everything the
 * decompressor yields, file content, headers and what follows the end of the archive alike)
 * and entries (inodes and hard links). A layer is attacker-chosen data whose compressed size
 * says nothing of what it inflates to; these caps make a decompression bomb fail cleanly
 * instead of filling the disk or the inode table.
 */
public record UnpackLimits(long layerBytes, long layerEntries, long imageBytes, long imageEntries) {
    /** Generous for real images (the largest seen carry a few hundred thousand files and tens of GiB). */
    public static final UnpackLimits DEFAULTS = new UnpackLimits(128L << 30, 1_000_000, 256L << 30, 1_000_000);

    public UnpackLimits {
        if (layerBytes <= 0 || layerEntries <= 0 || imageBytes <= 0 || imageEntries <= 0) {
            throw BerthException.invalidArgument("unpack limits must be positive");
        }
    }

    /** A budget for one image's layers; {@code cancelled} says when its pull is no longer wanted. */
    public Budget budget(BooleanSupplier cancelled) {
        return new Budget(this, cancelled);
    }

    /** What is left of one image's allowance, shared by its layers as they unpack (in parallel). */
    public static final class Budget {
        /** No image cap beyond the defaults and never cancelled (e.g. a layer unpacked on its own). */
        public static Budget unlimited() {
            return DEFAULTS.budget(() -> false);
        }

        private final UnpackLimits limits;
        private final BooleanSupplier cancelled;
        private final AtomicLong bytes = new AtomicLong();
        private final AtomicLong entries = new AtomicLong();

        private Budget(UnpackLimits limits, BooleanSupplier cancelled) {
            this.limits = limits;
            this.cancelled = cancelled;
        }

        public UnpackLimits limits() {
            return limits;
        }

        /** Throws CANCELLED when the pull this budget belongs to was cancelled. */
        public void checkCancelled() {
            if (cancelled.getAsBoolean()) {
                throw new BerthException(BerthException.Kind.CANCELLED, "unpacking cancelled: the pull was cancelled");
            }
        }

        boolean isCancelled() {
            return cancelled.getAsBoolean();
        }

        /** Counts {@code n} more uncompressed bytes of the image (a layer counts its own). */
        void chargeBytes(long n) {
            if (bytes.addAndGet(n) > limits.imageBytes) {
                throw BerthException.resourceExhausted("the image unpacks to more than %d bytes (the image cap)", limits.imageBytes);
            }
        }

        void chargeEntries(long n) {
            if (entries.addAndGet(n) > limits.imageEntries) {
                throw BerthException.resourceExhausted("the image unpacks to more than %d entries (the image cap)", limits.imageEntries);
            }
        }

        /** Counts a layer already unpacked (by an earlier pull) against the image's caps. */
        public void chargeLayer(long layerBytes, long layerInodes) {
            chargeBytes(layerBytes);
            chargeEntries(layerInodes);
        }
    }
}
