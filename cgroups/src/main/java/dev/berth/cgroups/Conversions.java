package dev.berth.cgroups;

import dev.berth.common.BerthException;

/** CRI resource values to cgroup file values, for v2 and v1; all pure functions. */
public final class Conversions {
    public static final long MIN_SHARES = 2;
    public static final long MAX_SHARES = 262144;
    public static final long MIN_WEIGHT = 1;
    public static final long MAX_WEIGHT = 10000;
    public static final long DEFAULT_PERIOD_US = 100_000;
    public static final long MIN_PERIOD_US = 1_000;
    public static final long MAX_PERIOD_US = 1_000_000;
    public static final long MIN_QUOTA_US = 1_000;

    private Conversions() {
    }

    /** v1 cpu.shares clamped to the kernel's range [2, 262144]. */
    public static long clampShares(long shares) {
        return Math.max(MIN_SHARES, Math.min(MAX_SHARES, shares));
    }

    /** cpu.shares → v2 cpu.weight: the linear map of [2, 262144] onto [1, 10000] the OCI runtimes use. */
    public static long sharesToWeight(long shares) {
        long s = clampShares(shares);
        return 1 + ((s - 2) * 9999) / 262142;
    }

    /** v2 cpu.weight → the cpu.shares that maps to it (inverse of {@link #sharesToWeight}, rounded up). */
    public static long weightToShares(long weight) {
        if (weight < MIN_WEIGHT || weight > MAX_WEIGHT) {
            throw BerthException.invalidArgument("cpu weight %d is outside [1, 10000]", weight);
        }
        // smallest shares whose weight is `weight`
        return 2 + ((weight - 1) * 262142 + 9998) / 9999;
    }

    /**
     * CRI cpu_quota/cpu_period (µs) → v2 {@code cpu.max}, or null when neither is set.
     * A quota of -1 means unlimited ("max"); a period without a quota keeps "max".
     */
    public static String cpuMax(Long quota, Long period) {
        boolean hasQuota = quota != null && quota != 0;
        boolean hasPeriod = period != null && period != 0;
        if (!hasQuota && !hasPeriod) {
            return null;
        }
        long p = hasPeriod ? checkPeriod(period) : DEFAULT_PERIOD_US;
        if (!hasQuota || quota < 0) {
            if (hasQuota && quota != -1) {
                throw BerthException.invalidArgument("cpu quota %d is negative (only -1, unlimited, is allowed)", quota);
            }
            return "max " + p;
        }
        return checkQuota(quota) + " " + p;
    }

    /** Validates a CPU period in µs against the kernel's range [1000, 1000000]. */
    public static long checkPeriod(long period) {
        if (period < MIN_PERIOD_US || period > MAX_PERIOD_US) {
            throw BerthException.invalidArgument("cpu period %d µs is outside [%d, %d]", period, MIN_PERIOD_US, MAX_PERIOD_US);
        }
        return period;
    }

    /** Validates a CPU quota in µs (at least 1000; -1 is unlimited). */
    public static long checkQuota(long quota) {
        if (quota == -1) {
            return quota;
        }
        if (quota < MIN_QUOTA_US) {
            throw BerthException.invalidArgument("cpu quota %d µs is below the minimum %d", quota, MIN_QUOTA_US);
        }
        return quota;
    }

    /** A memory limit in bytes, or null when not set (null/0); -1 is unlimited. */
    public static Long memoryLimit(Long limit) {
        if (limit == null || limit == 0) {
            return null;
        }
        if (limit < -1) {
            throw BerthException.invalidArgument("memory limit %d is negative", limit);
        }
        return limit;
    }

    /** v2 value: a byte count, or "max" for -1. */
    public static String v2Bytes(long value) {
        return value == -1 || value == Long.MAX_VALUE ? "max" : Long.toString(value);
    }

    /**
     * CRI memory_swap_limit_in_bytes is memory + swap together (as in v1's memsw); v2's
     * {@code memory.swap.max} is the swap alone. Returns the v2 value, or null when not set.
     * -1 allows unlimited swap; a total equal to the memory limit allows none.
     */
    public static String v2SwapMax(Long memoryLimit, Long swapTotal) {
        if (swapTotal == null || swapTotal == 0) {
            return null;
        }
        if (swapTotal == -1) {
            return "max";
        }
        if (swapTotal < 0) {
            throw BerthException.invalidArgument("memory+swap limit %d is negative", swapTotal);
        }
        Long memory = memoryLimit(memoryLimit);
        if (memory == null || memory == -1) {
            throw BerthException.invalidArgument("a memory+swap limit (%d) needs a memory limit", swapTotal);
        }
        if (swapTotal < memory) {
            throw BerthException.invalidArgument("memory+swap limit %d is below the memory limit %d", swapTotal, memory);
        }
        return Long.toString(swapTotal - memory);
    }

    /** v1 memory.memsw.limit_in_bytes (memory + swap), or null when not set. */
    public static Long v1MemswLimit(Long memoryLimit, Long swapTotal) {
        if (swapTotal == null || swapTotal == 0) {
            return null;
        }
        if (swapTotal == -1) {
            return -1L;
        }
        // same checks as v2
        v2SwapMax(memoryLimit, swapTotal);
        return swapTotal;
    }

    /** pids.max value: a count, or "max" for -1; null when not set (null/0). */
    public static String pidsMax(Long limit) {
        if (limit == null || limit == 0) {
            return null;
        }
        if (limit < -1) {
            throw BerthException.invalidArgument("pids limit %d is negative", limit);
        }
        return limit == -1 ? "max" : Long.toString(limit);
    }

    /** Checks a cpuset list such as "0-3,7" (digits, ranges, commas). */
    public static String cpuset(String list, String what) {
        if (list == null || list.isEmpty()) {
            return null;
        }
        boolean expectDigit = true;
        boolean inRange = false;
        long start = -1;
        long current = -1;
        for (int i = 0; i < list.length(); i++) {
            char c = list.charAt(i);
            if (c >= '0' && c <= '9') {
                current = (current < 0 ? 0 : current) * 10 + (c - '0');
                if (current > 65535) {
                    throw BerthException.invalidArgument("%s %s: number too large", what, list);
                }
                expectDigit = false;
            } else if (c == '-' && !expectDigit && !inRange) {
                start = current;
                current = -1;
                inRange = true;
                expectDigit = true;
            } else if (c == ',' && !expectDigit) {
                if (inRange && current < start) {
                    throw BerthException.invalidArgument("%s %s: range %d-%d is reversed", what, list, start, current);
                }
                inRange = false;
                current = -1;
                expectDigit = true;
            } else {
                throw BerthException.invalidArgument("%s %s is not a list like 0-3,5", what, list);
            }
        }
        if (expectDigit) {
            throw BerthException.invalidArgument("%s %s is not a list like 0-3,5", what, list);
        }
        if (inRange && current < start) {
            throw BerthException.invalidArgument("%s %s: range %d-%d is reversed", what, list, start, current);
        }
        return list;
    }

    /** Checks a hugepage size as the kernel names it in hugetlb files ("2MB", "1GB", "64KB"). */
    public static String hugepageSize(String size) {
        if (size == null || size.length() < 3) {
            throw BerthException.invalidArgument("hugepage size %s is not like 2MB or 1GB", size);
        }
        String unit = size.substring(size.length() - 2);
        if (!"KB".equals(unit) && !"MB".equals(unit) && !"GB".equals(unit)) {
            throw BerthException.invalidArgument("hugepage size %s is not like 2MB or 1GB", size);
        }
        for (int i = 0; i < size.length() - 2; i++) {
            if (size.charAt(i) < '0' || size.charAt(i) > '9') {
                throw BerthException.invalidArgument("hugepage size %s is not like 2MB or 1GB", size);
            }
        }
        return size;
    }
}
