package dev.berth.cli.bench;

import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The latencies of every call of one run, by call name in the order first seen. A failed call
 * counts as an error of its name (the first message is kept) and is not a sample; it throws
 * {@link CallFailed} so the step that made it can give up and clean up.
 */
final class Recorder {
    private final Map<String, List<Double>> samples = new LinkedHashMap<>();
    private final Map<String, Integer> errors = new LinkedHashMap<>();
    private final Map<String, String> firstErrors = new LinkedHashMap<>();
    private final Map<String, List<Double>> rates = new LinkedHashMap<>();
    private final Map<String, long[]> rateBytes = new LinkedHashMap<>();
    private final LongSupplier nanos;

    Recorder() {
        this(System::nanoTime);
    }

    /** With the clock the samples are read from (tests give a fake one). */
    Recorder(LongSupplier nanos) {
        this.nanos = nanos;
    }

    /** A call that failed; already counted. */
    static final class CallFailed extends RuntimeException {
        CallFailed(String call, Throwable cause) {
            super(call + ": " + describe(cause), cause);
        }
    }

    /** Times {@code body} as a whole (streams over HTTP, where connecting is part of what is measured). */
    <T> T time(String call, Supplier<T> body) {
        long t0 = nanos.getAsLong();
        T out;
        try {
            out = body.get();
        } catch (RuntimeException e) {
            error(call, e);
            throw new CallFailed(call, e);
        }
        add(call, (nanos.getAsLong() - t0) / 1e6);
        return out;
    }

    /**
     * Times one blocking RPC and nothing else: the stub (with its deadline) and the request are
     * made by the caller before the clock starts, so a sample is the call's round trip as a
     * runtime serves it, the same on every runtime.
     */
    <S, Q, R> R call(String call, S stub, Q request, BiFunction<S, Q, R> rpc) {
        long t0 = nanos.getAsLong();
        R out;
        try {
            out = rpc.apply(stub, request);
        } catch (RuntimeException e) {
            error(call, e);
            throw new CallFailed(call, e);
        }
        add(call, (nanos.getAsLong() - t0) / 1e6);
        return out;
    }

    synchronized void add(String call, double ms) {
        samples.computeIfAbsent(call, c -> new ArrayList<>()).add(ms);
        errors.putIfAbsent(call, 0);
    }

    synchronized void error(String call, Throwable e) {
        samples.computeIfAbsent(call, c -> new ArrayList<>());
        errors.merge(call, 1, Integer::sum);
        firstErrors.putIfAbsent(call, describe(e));
    }

    /** One round of a stream: {@code bytes} went through, verified, at {@code mbPerSecond}. */
    synchronized void rate(String stream, double mbPerSecond, long bytes) {
        rates.computeIfAbsent(stream, c -> new ArrayList<>()).add(mbPerSecond);
        long[] b = rateBytes.computeIfAbsent(stream, c -> new long[2]);
        b[0] = bytes;
        b[1] += bytes;
        errors.putIfAbsent(stream, 0);
    }

    /** A round of a stream that failed (counted with the calls' errors under the stream's name). */
    synchronized void rateError(String stream, long bytes, Throwable e) {
        rates.computeIfAbsent(stream, c -> new ArrayList<>());
        rateBytes.computeIfAbsent(stream, c -> new long[2])[0] = bytes;
        errors.merge(stream, 1, Integer::sum);
        firstErrors.putIfAbsent(stream, describe(e));
    }

    synchronized Map<String, Results.Throughput> throughput() {
        Map<String, Results.Throughput> out = new LinkedHashMap<>();
        rates.forEach((name, s) -> out.put(name, Results.Throughput.of(name, s, errors.getOrDefault(name, 0), rateBytes.get(name)[0],
                rateBytes.get(name)[1], firstErrors.get(name))));
        return out;
    }

    /** The sample of {@code call} taken last, or NaN. */
    synchronized double last(String call) {
        List<Double> s = samples.get(call);
        return s == null || s.isEmpty() ? Double.NaN : s.get(s.size() - 1);
    }

    synchronized int sampleCount(String call) {
        List<Double> s = samples.get(call);
        return s == null ? 0 : s.size();
    }

    synchronized int totalErrors() {
        return errors.values().stream().mapToInt(Integer::intValue).sum();
    }

    synchronized Map<String, Results.Call> summary() {
        Map<String, Results.Call> out = new LinkedHashMap<>();
        samples.forEach((name, s) -> out.put(name, Results.Call.of(name, s, errors.getOrDefault(name, 0), firstErrors.get(name))));
        return out;
    }

    static String describe(Throwable e) {
        if (e instanceof StatusRuntimeException s) {
            return s.getStatus().getCode() + (s.getStatus().getDescription() == null ? "" : ": " + s.getStatus().getDescription());
        }
        return e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
    }
}
