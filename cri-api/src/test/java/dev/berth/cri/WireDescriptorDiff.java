package dev.berth.cri;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.Descriptors.MethodDescriptor;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Compares the descriptors protoc compiled from berth's api.proto with the published listing of
 * the runtime.v1 wire protocol, and lists every difference in words.
 */
final class WireDescriptorDiff {
    private final List<String> differences = new ArrayList<>();

    static List<String> compare(FileDescriptor file, JsonNode expected) {
        WireDescriptorDiff diff = new WireDescriptorDiff();
        diff.services(file, expected.path("services"));
        diff.messages(file, expected.path("messages"));
        diff.enums(file, expected.path("enums"));
        return diff.differences;
    }

    private void differ(String what, Object ours, Object theirs) {
        if (!Objects.equals(ours, theirs)) {
            differences.add(what + ": berth has " + ours + ", runtime.v1 has " + theirs);
        }
    }

    private void services(FileDescriptor file, JsonNode expected) {
        Map<String, ServiceDescriptor> ours = new TreeMap<>();
        file.getServices().forEach(s -> ours.put(s.getFullName(), s));
        compareNames("service", ours.keySet(), fieldNames(expected));
        for (Iterator<Map.Entry<String, JsonNode>> it = expected.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> service = it.next();
            ServiceDescriptor sd = ours.get(service.getKey());
            if (sd == null) {
                continue;
            }
            Map<String, JsonNode> methods = new TreeMap<>();
            service.getValue().forEach(m -> methods.put(m.path("name").asText(), m));
            Map<String, MethodDescriptor> ourMethods = new TreeMap<>();
            sd.getMethods().forEach(m -> ourMethods.put(m.getName(), m));
            compareNames("method of " + sd.getFullName(), ourMethods.keySet(), methods.keySet());
            methods.forEach((name, m) -> {
                MethodDescriptor md = ourMethods.get(name);
                if (md == null) {
                    return;
                }
                String where = sd.getFullName() + "/" + name;
                differ(where + " request type", md.getInputType().getFullName(), m.path("input").asText());
                differ(where + " response type", md.getOutputType().getFullName(), m.path("output").asText());
                differ(where + " client streaming", md.isClientStreaming(), m.path("client_streaming").asBoolean());
                differ(where + " server streaming", md.isServerStreaming(), m.path("server_streaming").asBoolean());
            });
        }
    }

    private void messages(FileDescriptor file, JsonNode expected) {
        Map<String, Descriptor> ours = new TreeMap<>();
        file.getMessageTypes().forEach(d -> collect(d, ours));
        compareNames("message", ours.keySet(), fieldNames(expected));
        for (Iterator<Map.Entry<String, JsonNode>> it = expected.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> message = it.next();
            Descriptor d = ours.get(message.getKey());
            if (d == null) {
                continue;
            }
            differ(d.getFullName() + " map entry", d.getOptions().getMapEntry(),
                    message.getValue().path("map_entry").asBoolean());
            Map<Integer, JsonNode> fields = new TreeMap<>();
            message.getValue().path("fields").forEach(f -> fields.put(f.path("number").asInt(), f));
            Map<Integer, FieldDescriptor> ourFields = new TreeMap<>();
            d.getFields().forEach(f -> ourFields.put(f.getNumber(), f));
            for (Integer n : union(ourFields.keySet(), fields.keySet())) {
                FieldDescriptor f = ourFields.get(n);
                JsonNode e = fields.get(n);
                String where = d.getFullName() + " field " + n;
                if (f == null) {
                    differences.add(where + " (" + e.path("name").asText() + ") is missing from berth");
                    continue;
                }
                if (e == null) {
                    differences.add(where + " (" + f.getName() + ") is not in runtime.v1");
                    continue;
                }
                field(where, f, e);
            }
        }
    }

    private void field(String where, FieldDescriptor f, JsonNode e) {
        FieldDescriptorProto p = f.toProto();
        differ(where + " name", f.getName(), e.path("name").asText());
        differ(where + " json name", f.getJsonName(), e.path("json_name").asText());
        differ(where + " type", lower(p.getType().name(), "TYPE_"), e.path("type").asText());
        differ(where + " label", lower(p.getLabel().name(), "LABEL_"), e.path("label").asText());
        String typeName = switch (f.getJavaType()) {
            case MESSAGE -> f.getMessageType().getFullName();
            case ENUM -> f.getEnumType().getFullName();
            default -> null;
        };
        differ(where + " type name", typeName, e.has("type_name") ? e.path("type_name").asText() : null);
        String oneof = f.getRealContainingOneof() == null ? null : f.getRealContainingOneof().getName();
        differ(where + " oneof", oneof, e.has("oneof") ? e.path("oneof").asText() : null);
        differ(where + " proto3 optional", p.getProto3Optional(), e.path("proto3_optional").asBoolean(false));
        differ(where + " debug_redact", f.getOptions().getDebugRedact(), e.path("debug_redact").asBoolean(false));
    }

    private void enums(FileDescriptor file, JsonNode expected) {
        Map<String, EnumDescriptor> ours = new TreeMap<>();
        file.getEnumTypes().forEach(e -> ours.put(e.getFullName(), e));
        Map<String, Descriptor> messages = new TreeMap<>();
        file.getMessageTypes().forEach(d -> collect(d, messages));
        messages.values().forEach(d -> d.getEnumTypes().forEach(e -> ours.put(e.getFullName(), e)));
        compareNames("enum", ours.keySet(), fieldNames(expected));
        for (Iterator<Map.Entry<String, JsonNode>> it = expected.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> en = it.next();
            EnumDescriptor ed = ours.get(en.getKey());
            if (ed == null) {
                continue;
            }
            Map<String, Integer> values = new TreeMap<>();
            en.getValue().fields().forEachRemaining(v -> values.put(v.getKey(), v.getValue().asInt()));
            Map<String, Integer> ourValues = new TreeMap<>();
            for (EnumValueDescriptor v : ed.getValues()) {
                ourValues.put(v.getName(), v.getNumber());
            }
            differ("enum " + ed.getFullName() + " values", ourValues, values);
        }
    }

    private void compareNames(String kind, java.util.Set<String> ours, java.util.Set<String> theirs) {
        for (String name : union(ours, theirs)) {
            if (!ours.contains(name)) {
                differences.add(kind + " " + name + " is missing from berth");
            } else if (!theirs.contains(name)) {
                differences.add(kind + " " + name + " is not in runtime.v1");
            }
        }
    }

    private static void collect(Descriptor d, Map<String, Descriptor> into) {
        into.put(d.getFullName(), d);
        d.getNestedTypes().forEach(n -> collect(n, into));
    }

    private static <T extends Comparable<T>> TreeSet<T> union(java.util.Set<T> a, java.util.Set<T> b) {
        TreeSet<T> all = new TreeSet<>(a);
        all.addAll(b);
        return all;
    }

    private static java.util.Set<String> fieldNames(JsonNode node) {
        java.util.Set<String> names = new TreeSet<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static String lower(String enumName, String prefix) {
        return enumName.substring(prefix.length()).toLowerCase(Locale.ROOT);
    }
}
