package dev.berth.cli.metrics;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Records every CRI call: its duration in {@code berth_cri_request_duration_seconds} (a
 * histogram), a count in {@code berth_cri_requests_total} and, for every status other than OK,
 * a count in {@code berth_cri_errors_total}; all labelled {@code service} (e.g.
 * {@code runtime.v1.RuntimeService}), {@code method} (e.g. {@code Version}) and {@code code}
 * (the gRPC status code name, e.g. {@code OK}, {@code NOT_FOUND}). A streaming call is
 * recorded when it ends; a call the client cancels or abandons counts as CANCELLED.
 *
 * <p>The meters of each method and code are created on first use and then looked up without
 * locks, so a call pays for a map lookup, two clock reads and the lock-free updates of its meters
 * (about a microsecond; see CriCallMetricsBenchmark).
 */
public final class CriCallMetrics implements ServerInterceptor {
    public static final String DURATION = "berth.cri.request.duration";
    public static final String REQUESTS = "berth.cri.requests";
    public static final String ERRORS = "berth.cri.errors";

    private static final Status.Code[] CODES = Status.Code.values();

    private final MeterRegistry registry;
    private final Clock clock;
    private final ConcurrentHashMap<String, MethodMeters> methods = new ConcurrentHashMap<>();

    public CriCallMetrics(MeterRegistry registry) {
        this.registry = registry;
        this.clock = registry.config().clock();
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        MethodDescriptor<Q, R> descriptor = call.getMethodDescriptor();
        MethodMeters meters = methods.get(descriptor.getFullMethodName());
        if (meters == null) {
            meters = methods.computeIfAbsent(descriptor.getFullMethodName(), name -> new MethodMeters(registry, descriptor));
        }
        MeasuredCall<Q, R> measured = new MeasuredCall<>(call, meters, clock);
        ServerCall.Listener<Q> listener;
        try {
            listener = next.startCall(measured, headers);
        } catch (RuntimeException | Error e) {
            // gRPC closes the stream itself with the status of the exception
            measured.record(Status.fromThrowable(e).getCode());
            throw e;
        }
        return new SimpleForwardingServerCallListener<>(listener) {
            @Override
            public void onCancel() {
                measured.record(Status.Code.CANCELLED);
                super.onCancel();
            }
        };
    }

    /** A call that records its outcome exactly once, whichever of close and cancel comes first. */
    private static final class MeasuredCall<Q, R> extends SimpleForwardingServerCall<Q, R> {
        private static final AtomicIntegerFieldUpdater<MeasuredCall<?, ?>> RECORDED =
                AtomicIntegerFieldUpdater.newUpdater(castClass(), "recorded");

        private final MethodMeters meters;
        private final Clock clock;
        private final long started;
        private volatile int recorded;

        MeasuredCall(ServerCall<Q, R> call, MethodMeters meters, Clock clock) {
            super(call);
            this.meters = meters;
            this.clock = clock;
            this.started = clock.monotonicTime();
        }

        @SuppressWarnings({"unchecked", "rawtypes"})
        private static Class<MeasuredCall<?, ?>> castClass() {
            return (Class) MeasuredCall.class;
        }

        @Override
        public void close(Status status, Metadata trailers) {
            record(status.getCode());
            super.close(status, trailers);
        }

        void record(Status.Code code) {
            if (RECORDED.compareAndSet(this, 0, 1)) {
                meters.forCode(code).record(clock.monotonicTime() - started);
            }
        }
    }

    /** The meters of one CRI method, one set per status code, created when that code first occurs. */
    private static final class MethodMeters {
        private final MeterRegistry registry;
        private final String service;
        private final String method;
        private final AtomicReferenceArray<CodeMeters> byCode = new AtomicReferenceArray<>(CODES.length);

        MethodMeters(MeterRegistry registry, MethodDescriptor<?, ?> descriptor) {
            this.registry = registry;
            this.service = descriptor.getServiceName() == null ? "" : descriptor.getServiceName();
            this.method = descriptor.getBareMethodName() == null ? descriptor.getFullMethodName() : descriptor.getBareMethodName();
        }

        CodeMeters forCode(Status.Code code) {
            CodeMeters m = byCode.get(code.ordinal());
            if (m == null) {
                byCode.compareAndSet(code.ordinal(), null, new CodeMeters(registry, service, method, code));
                m = byCode.get(code.ordinal());
            }
            return m;
        }
    }

    private record CodeMeters(Timer duration, Counter requests, Counter errors) {
        CodeMeters(MeterRegistry registry, String service, String method, Status.Code code) {
            this(Timer.builder(DURATION)
                            .description("Duration of CRI calls, from the arrival of the call to its status")
                            .tags("service", service, "method", method, "code", code.name())
                            .register(registry),
                    Counter.builder(REQUESTS)
                            .description("CRI calls answered, by status code")
                            .tags("service", service, "method", method, "code", code.name())
                            .register(registry),
                    code == Status.Code.OK ? null : Counter.builder(ERRORS)
                            .description("CRI calls answered with a status other than OK")
                            .tags("service", service, "method", method, "code", code.name())
                            .register(registry));
        }

        void record(long nanos) {
            duration.record(nanos, TimeUnit.NANOSECONDS);
            requests.increment();
            if (errors != null) {
                errors.increment();
            }
        }
    }
}
