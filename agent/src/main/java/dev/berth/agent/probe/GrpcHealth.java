package dev.berth.agent.probe;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import io.grpc.MethodDescriptor;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * The standard gRPC health service's one call the probes use, {@code grpc.health.v1.Health/Check},
 * with its two messages marshalled by hand (a string field and an enum field: no generated code
 * and no grpc-services needed). Public for tests that serve the health service.
 */
public final class GrpcHealth {
    public static final String SERVICE = "grpc.health.v1.Health";

    /** HealthCheckResponse.ServingStatus, by number. */
    public enum ServingStatus {
        UNKNOWN, SERVING, NOT_SERVING, SERVICE_UNKNOWN;

        static ServingStatus of(int number) {
            return number >= 0 && number < values().length ? values()[number] : UNKNOWN;
        }
    }

    /** HealthCheckRequest {@code { string service = 1; }}, as its service name. */
    public static final MethodDescriptor.Marshaller<String> REQUEST = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(String service) {
            return new ByteArrayInputStream(encode(1, service));
        }

        @Override
        public String parse(InputStream in) {
            try {
                CodedInputStream c = CodedInputStream.newInstance(in);
                String service = "";
                for (int tag = c.readTag(); tag != 0; tag = c.readTag()) {
                    if (tag == (1 << 3 | 2)) {
                        service = c.readString();
                    } else if (!c.skipField(tag)) {
                        break;
                    }
                }
                return service;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };

    /** HealthCheckResponse {@code { ServingStatus status = 1; }}, as its status. */
    public static final MethodDescriptor.Marshaller<ServingStatus> RESPONSE = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(ServingStatus status) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try {
                CodedOutputStream c = CodedOutputStream.newInstance(bytes);
                if (status.ordinal() != 0) {
                    c.writeEnum(1, status.ordinal());
                }
                c.flush();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return new ByteArrayInputStream(bytes.toByteArray());
        }

        @Override
        public ServingStatus parse(InputStream in) {
            try {
                CodedInputStream c = CodedInputStream.newInstance(in);
                ServingStatus status = ServingStatus.UNKNOWN;
                for (int tag = c.readTag(); tag != 0; tag = c.readTag()) {
                    if (tag == (1 << 3)) {
                        status = ServingStatus.of(c.readEnum());
                    } else if (!c.skipField(tag)) {
                        break;
                    }
                }
                return status;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };

    public static final MethodDescriptor<String, ServingStatus> CHECK = MethodDescriptor.<String, ServingStatus>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY)
            .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "Check"))
            .setRequestMarshaller(REQUEST)
            .setResponseMarshaller(RESPONSE)
            .build();

    private GrpcHealth() {
    }

    private static byte[] encode(int field, String value) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            CodedOutputStream c = CodedOutputStream.newInstance(bytes);
            if (!value.isEmpty()) {
                c.writeString(field, value);
            }
            c.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }
}
