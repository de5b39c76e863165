package dev.berth.criserver.grpc;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import com.google.protobuf.TextFormat;
import java.util.List;
import java.util.Map;

/**
 * Renders requests for the debug log with every field marked {@code debug_redact} in api.proto
 * (the secrets of AuthConfig: password, auth, identity_token, registry_token) replaced, at any
 * depth, and the values of container environment variables too (Kubernetes secrets reach a
 * container as env values); their names, labels, annotations and commands stay readable.
 */
public final class Redaction {
    static final String MASK = "[redacted]";
    private static final int MAX_LENGTH = 4096;
    /** Repeated KeyValue fields that hold environment variables: their values are masked, their keys kept. */
    private static final java.util.Set<String> ENV_FIELDS = java.util.Set.of(
            dev.berth.cri.v1.ContainerConfig.getDescriptor().findFieldByName("envs").getFullName());

    private Redaction() {
    }

    public static String render(Object message) {
        if (!(message instanceof Message m)) {
            return String.valueOf(message);
        }
        String text = TextFormat.printer().emittingSingleLine(true).printToString(redact(m));
        return text.length() > MAX_LENGTH ? text.substring(0, MAX_LENGTH) + "...(" + text.length() + " chars)" : text;
    }

    static Message redact(Message message) {
        Message.Builder b = null;
        for (Map.Entry<FieldDescriptor, Object> e : message.getAllFields().entrySet()) {
            FieldDescriptor f = e.getKey();
            if (ENV_FIELDS.contains(f.getFullName())) {
                b = b == null ? message.toBuilder() : b;
                b.clearField(f);
                for (Object item : (List<?>) e.getValue()) {
                    Message kv = (Message) item;
                    FieldDescriptor value = kv.getDescriptorForType().findFieldByName("value");
                    Object mask = value.getJavaType() == FieldDescriptor.JavaType.BYTE_STRING
                            ? com.google.protobuf.ByteString.copyFromUtf8(MASK) : MASK;
                    b.addRepeatedField(f, kv.toBuilder().setField(value, mask).build());
                }
            } else if (f.getOptions().getDebugRedact()) {
                b = b == null ? message.toBuilder() : b;
                if (f.isRepeated()) {
                    b.clearField(f);
                } else if (f.getJavaType() == FieldDescriptor.JavaType.STRING) {
                    b.setField(f, MASK);
                } else {
                    b.clearField(f);
                }
            } else if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                if (f.isRepeated()) {
                    List<?> items = (List<?>) e.getValue();
                    for (int i = 0; i < items.size(); i++) {
                        Message item = (Message) items.get(i);
                        Message red = redact(item);
                        if (red != item) {
                            b = b == null ? message.toBuilder() : b;
                            b.setRepeatedField(f, i, red);
                        }
                    }
                } else {
                    Message item = (Message) e.getValue();
                    Message red = redact(item);
                    if (red != item) {
                        b = b == null ? message.toBuilder() : b;
                        b.setField(f, red);
                    }
                }
            }
        }
        return b == null ? message : b.build();
    }
}
