package dev.berth.criserver.grpc;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Logs every CRI call at debug level (request with secrets redacted, status, duration), and
 * failed calls that are not the caller's fault at warn level.
 */
public final class CallLogging implements ServerInterceptor {
    private static final Logger LOG = LoggerFactory.getLogger("dev.berth.criserver.cri");

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        String method = call.getMethodDescriptor().getBareMethodName();
        long started = System.nanoTime();
        ServerCall<Q, R> logged = new SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                double ms = (System.nanoTime() - started) / 1e6;
                if (isServerFault(status.getCode())) {
                    LOG.warn("{} failed after {} ms: {} {}", method, String.format("%.1f", ms), status.getCode(), status.getDescription());
                } else if (LOG.isDebugEnabled()) {
                    LOG.debug("{} -> {} in {} ms{}", method, status.getCode(), String.format("%.1f", ms),
                            status.getDescription() == null ? "" : ": " + status.getDescription());
                }
                super.close(status, trailers);
            }
        };
        return new SimpleForwardingServerCallListener<>(next.startCall(logged, headers)) {
            @Override
            public void onMessage(Q message) {
                if (LOG.isDebugEnabled()) {
                    LOG.debug("{} request {{}}", method, Redaction.render(message));
                }
                super.onMessage(message);
            }
        };
    }

    private static boolean isServerFault(Status.Code code) {
        return code == Status.Code.INTERNAL || code == Status.Code.UNKNOWN || code == Status.Code.DATA_LOSS;
    }
}
