package dev.berth.e2e.reliability;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import com.google.protobuf.TextFormat;
import dev.berth.cri.v1.AttachRequest;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerStatsRequest;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ExecRequest;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.KeyValue;
import dev.berth.cri.v1.LinuxContainerConfig;
import dev.berth.cri.v1.LinuxContainerResources;
import dev.berth.cri.v1.LinuxContainerSecurityContext;
import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxSandboxSecurityContext;
import dev.berth.cri.v1.Mount;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.PortForwardRequest;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.ReopenContainerLogRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.cri.v1.UpdateContainerResourcesRequest;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Malformed and random CRI requests, built on the generated stubs' descriptors, for the
 * reliability suite. Request {@code i} of a run is generated from {@code (seed, i)} alone
 * (plus the ids of the pods, containers and images that exist at that moment, which the run
 * feeds in), so a printed seed reproduces a run. A request is either a valid one (a pod, a
 * container of the run's image, an exec, a pull from the run's loopback registry) with one
 * to three fields replaced, or one filled field by field at random. Strings come from
 * hostile families: {@code ..} and absolute paths, NULs, huge strings (a request stays below
 * the daemon's 16 MiB message limit), deep paths, unknown ids; every path-like and name-like
 * string carries the run's marker, so a file written anywhere with one of them is found
 * afterwards ({@link MarkerSearch}).
 *
 * <p>A few values are kept from doing harm to the machine rather than to berth: host ports
 * are 0 or out of range (a valid one would take a port of the host), a pod CIDR is the run's
 * own subnet or not a CIDR, pulls go only to the loopback registry or a closed loopback port,
 * and the run's containers end on SIGTERM, so a long stop timeout is not a hang (a StopContainer
 * asked to wait longer than the call's deadline may reach it: a mutated container can take that long).
 */
public final class CriFuzzer {
    /** The answer to one request. */
    public record Outcome(int index, String method, Status.Code code, String description, long millis, String request) {
        /** OK, or a code that says the input was refused: anything but a hang, a crash or an unexplained error. */
        public boolean proper() {
            return switch (code) {
                case INTERNAL, UNKNOWN, DEADLINE_EXCEEDED, DATA_LOSS -> false;
                // a pull from an unreachable registry is UNAVAILABLE; elsewhere it means the daemon went away
                case UNAVAILABLE -> method.endsWith("/PullImage") && description != null && !description.startsWith("io exception")
                        && !description.contains("Connection closed");
                default -> true;
            };
        }

        public String line() {
            return String.format("#%d %s -> %s %s (%d ms) request: %s", index, method, code,
                    description == null ? "" : cut(description, 300), millis, request);
        }
    }

    /** What exists in the daemon: ids a request may name so that it reaches past the lookup. */
    public record Pools(List<String> pods, List<String> containers, List<String> images) {
    }

    /** The things a run provides: a channel to the daemon, a marker, a directory it owns, and where its image is. */
    public record Setup(Channel channel, long seed, String marker, Path ownedDir, Path logDir, String registryHost,
                        int closedPort, String imageRef, Path fifo) {
    }

    private static final int HUGE_BUDGET = 12 << 20;
    private static final long[] LONGS = {0, 1, -1, 2, 1024, Long.MAX_VALUE, Long.MIN_VALUE, Integer.MAX_VALUE, Integer.MIN_VALUE,
        1L << 40, -(1L << 40), 1L << 62, 4_000_000_000L, 9_223_372_036_854_775L, 123_456_789_012L};
    private static final int[] INTS = {0, 1, -1, 2, 65535, 65536, Integer.MAX_VALUE, Integer.MIN_VALUE, 1 << 30, -4096, 37, 99};
    /** Host ports whose low 16 bits are 0: refused, or at worst no host port, never a port of this machine. */
    private static final int[] HOST_PORTS = {0, 65536, 131072, -65536, Integer.MIN_VALUE};

    private final Setup setup;
    private final List<MethodDescriptor<?, ?>> methods = new ArrayList<>();

    public CriFuzzer(Setup setup) {
        this.setup = setup;
        for (var d : List.of(RuntimeServiceGrpc.getServiceDescriptor(), ImageServiceGrpc.getServiceDescriptor())) {
            for (MethodDescriptor<?, ?> m : d.getMethods()) {
                if (m.getType() == MethodDescriptor.MethodType.UNARY || m.getType() == MethodDescriptor.MethodType.SERVER_STREAMING) {
                    methods.add(m);
                }
            }
        }
        methods.sort((a, b) -> a.getFullMethodName().compareTo(b.getFullMethodName()));
    }

    public List<String> methodNames() {
        return methods.stream().map(MethodDescriptor::getFullMethodName).toList();
    }

    // ------------------------------------------------------------------ one request

    /** Generates request {@code index}, sends it with a deadline and returns the answer. */
    public Outcome run(int index, Pools pools) {
        Gen g = new Gen(new Random(setup.seed() * 0x9E3779B97F4A7C15L + index * 0xBF58476D1CE4E5B9L), pools);
        MethodDescriptor<?, ?> method = methods.get(g.r.nextInt(methods.size()));
        Message request = g.request(method);
        return send(index, method, request);
    }

    /** The request {@code index} would send (for a report). */
    public String describe(int index, Pools pools) {
        Gen g = new Gen(new Random(setup.seed() * 0x9E3779B97F4A7C15L + index * 0xBF58476D1CE4E5B9L), pools);
        MethodDescriptor<?, ?> method = methods.get(g.r.nextInt(methods.size()));
        return method.getFullMethodName() + " " + summary(g.request(method));
    }

    @SuppressWarnings("unchecked")
    private Outcome send(int index, MethodDescriptor<?, ?> m, Message request) {
        MethodDescriptor<Message, Message> method = (MethodDescriptor<Message, Message>) m;
        String name = m.getFullMethodName();
        boolean events = name.endsWith("/GetContainerEvents");
        long deadlineSeconds = events ? 2 : name.endsWith("/PullImage") ? 90 : 45;
        CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(deadlineSeconds, TimeUnit.SECONDS);
        long t0 = System.nanoTime();
        Status.Code code = Status.Code.OK;
        String description = null;
        try {
            if (m.getType() == MethodDescriptor.MethodType.UNARY) {
                ClientCalls.blockingUnaryCall(setup.channel(), method, options, request);
            } else {
                Iterator<Message> it = ClientCalls.blockingServerStreamingCall(setup.channel(), method, options, request);
                while (it.hasNext()) {
                    it.next();
                }
            }
        } catch (StatusRuntimeException e) {
            code = e.getStatus().getCode();
            description = e.getStatus().getDescription();
            if (events && code == Status.Code.DEADLINE_EXCEEDED) {
                code = Status.Code.OK; // the events stream is endless: it was open until the deadline
                description = "stream open until the deadline";
            }
            if (code == Status.Code.DEADLINE_EXCEEDED && request instanceof StopContainerRequest stop
                    && stop.getTimeout() >= deadlineSeconds) {
                // StopContainer waits up to its timeout for the container to end on its stop signal; a mutated
                // container (throttled to a sliver of CPU, say) may take longer than this call's deadline to do so
                code = Status.Code.OK;
                description = "waited for the stop, asked for " + stop.getTimeout() + " s, past the call's deadline";
            }
        }
        return new Outcome(index, name, code, description, (System.nanoTime() - t0) / 1_000_000, summary(request));
    }

    static String summary(Message m) {
        return cut(TextFormat.printer().emittingSingleLine(true).printToString(m), 600);
    }

    static String cut(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max) + "...(" + s.length() + " chars)";
    }

    // ------------------------------------------------------------------ valid requests to mutate

    /** A valid pod of the run: its log directory is the run's, its processes share a PID namespace. */
    public PodSandboxConfig podConfig(String name) {
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("fuzz").setUid("uid-" + name))
                .setHostname(name)
                .setLogDirectory(setup.logDir().toString())
                .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.POD))))
                .build();
    }

    /** A valid container of the run's image that ends on SIGTERM even as PID 1. */
    public ContainerConfig containerConfig(String name) {
        return ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage(setup.imageRef()))
                .addCommand("sh").addArgs("-c").addArgs("trap 'exit 0' TERM; echo up; while true; do sleep 1; done")
                .setLogPath(name + "/0.log")
                .addEnvs(KeyValue.newBuilder().setKey("FUZZ").setValue(ByteString.copyFromUtf8("1")))
                .setLinux(LinuxContainerConfig.newBuilder()
                        .setResources(LinuxContainerResources.newBuilder().setCpuShares(256).setMemoryLimitInBytes(64L << 20))
                        .setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                                .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.POD))))
                .build();
    }

    /** Generation of one request from its own random source. */
    private final class Gen {
        final Random r;
        final Pools pools;
        int budget = HUGE_BUDGET;

        Gen(Random r, Pools pools) {
            this.r = r;
            this.pools = pools;
        }

        Message request(MethodDescriptor<?, ?> m) {
            String name = m.getFullMethodName();
            String rpc = name.substring(name.indexOf('/') + 1);
            Message template = r.nextInt(10) < 6 ? template(rpc) : null;
            Message.Builder b;
            if (template != null) {
                b = template.toBuilder();
                int mutations = 1 + r.nextInt(3);
                for (int i = 0; i < mutations; i++) {
                    mutate(b, 0);
                }
            } else {
                b = ((MethodDescriptor.PrototypeMarshaller<?>) m.getRequestMarshaller()).getMessagePrototype() instanceof Message p
                        ? p.newBuilderForType() : null;
                fill(b, 0);
            }
            sanitize(b, rpc);
            return b.build();
        }

        String pick(List<String> l, Supplier<String> otherwise) {
            return l.isEmpty() ? otherwise.get() : l.get(r.nextInt(l.size()));
        }

        String pod() {
            return pick(pools.pods(), () -> hex(64));
        }

        String container() {
            return pick(pools.containers(), () -> hex(64));
        }

        Message template(String rpc) {
            String n = "fz" + r.nextInt(1_000_000);
            return switch (rpc) {
                case "RunPodSandbox" -> RunPodSandboxRequest.newBuilder().setConfig(podConfig(n)).build();
                case "CreateContainer" -> CreateContainerRequest.newBuilder().setPodSandboxId(pod())
                        .setConfig(containerConfig(n)).setSandboxConfig(podConfig(n)).build();
                case "StartContainer" -> StartContainerRequest.newBuilder().setContainerId(container()).build();
                case "StopContainer" -> StopContainerRequest.newBuilder().setContainerId(container()).setTimeout(2).build();
                case "RemoveContainer" -> RemoveContainerRequest.newBuilder().setContainerId(container()).build();
                case "ContainerStatus" -> ContainerStatusRequest.newBuilder().setContainerId(container()).setVerbose(true).build();
                case "ContainerStats" -> ContainerStatsRequest.newBuilder().setContainerId(container()).build();
                case "UpdateContainerResources" -> UpdateContainerResourcesRequest.newBuilder().setContainerId(container())
                        .setLinux(LinuxContainerResources.newBuilder().setCpuShares(512).setMemoryLimitInBytes(96L << 20)
                                .setCpuPeriod(100_000).setCpuQuota(50_000)).build();
                case "ReopenContainerLog" -> ReopenContainerLogRequest.newBuilder().setContainerId(container()).build();
                case "ExecSync" -> ExecSyncRequest.newBuilder().setContainerId(container()).addCmd("echo").addCmd(setup.marker())
                        .setTimeout(10).build();
                case "Exec" -> ExecRequest.newBuilder().setContainerId(container()).addCmd("echo").setStdout(true).build();
                case "Attach" -> AttachRequest.newBuilder().setContainerId(container()).setStdout(true).build();
                case "PortForward" -> PortForwardRequest.newBuilder().setPodSandboxId(pod()).addPort(80).build();
                case "PodSandboxStatus" -> PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod()).setVerbose(true).build();
                case "StopPodSandbox" -> StopPodSandboxRequest.newBuilder().setPodSandboxId(pod()).build();
                case "RemovePodSandbox" -> RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod()).build();
                case "PullImage" -> PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(setup.imageRef())).build();
                case "ImageStatus" -> ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder()
                        .setImage(pick(pools.images(), setup::imageRef))).setVerbose(true).build();
                default -> null;
            };
        }

        /** Replaces one field somewhere below {@code b} with a random value. */
        void mutate(Message.Builder b, int depth) {
            List<FieldDescriptor> fields = b.getDescriptorForType().getFields();
            if (fields.isEmpty()) {
                return;
            }
            FieldDescriptor f = fields.get(r.nextInt(fields.size()));
            if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE && !f.isRepeated() && depth < 6 && r.nextInt(10) < 7) {
                mutate(b.getFieldBuilder(f), depth + 1);
                return;
            }
            b.clearField(f);
            setRandom(b, f, depth);
        }

        /** Sets each field of {@code b} with some probability, recursively. */
        void fill(Message.Builder b, int depth) {
            for (FieldDescriptor f : b.getDescriptorForType().getFields()) {
                int p = f.getJavaType() == FieldDescriptor.JavaType.MESSAGE ? (depth < 4 ? 5 : 0) : 6;
                if (r.nextInt(10) < p) {
                    setRandom(b, f, depth);
                }
            }
        }

        void setRandom(Message.Builder b, FieldDescriptor f, int depth) {
            if (f.isMapField()) {
                int n = r.nextInt(20) == 0 ? 2_000 + r.nextInt(50_000) : r.nextInt(4);
                FieldDescriptor key = f.getMessageType().findFieldByName("key");
                FieldDescriptor value = f.getMessageType().findFieldByName("value");
                for (int i = 0; i < n; i++) {
                    Message.Builder e = b.newBuilderForField(f);
                    e.setField(key, n > 10 ? "k" + i + setup.marker() : (String) scalar(key, f.getName(), depth));
                    e.setField(value, scalar(value, f.getName(), depth));
                    b.addRepeatedField(f, e.build());
                }
                return;
            }
            if (f.isRepeated()) {
                // many elements: scalars near the top only, a few hundred messages at most
                boolean message = f.getJavaType() == FieldDescriptor.JavaType.MESSAGE;
                int n = depth < 2 && r.nextInt(25) == 0 ? (message ? 100 + r.nextInt(300) : 1_000 + r.nextInt(20_000)) : r.nextInt(4);
                for (int i = 0; i < n; i++) {
                    b.addRepeatedField(f, value(b, f, depth, n > 10));
                }
                return;
            }
            b.setField(f, value(b, f, depth, false));
        }

        Object value(Message.Builder b, FieldDescriptor f, int depth, boolean small) {
            if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                Message.Builder sub = b.newBuilderForField(f);
                if (depth < 5) {
                    fill(sub, small ? 4 : depth + 1); // many elements: no messages inside them
                }
                return sub.build();
            }
            if (small && f.getJavaType() == FieldDescriptor.JavaType.STRING) {
                return "s" + r.nextInt(1000) + setup.marker();
            }
            return scalar(f, f.getName(), depth);
        }

        Object scalar(FieldDescriptor f, String context, int depth) {
            return switch (f.getJavaType()) {
                case STRING -> string(f.getName(), context);
                case INT -> INTS[r.nextInt(INTS.length)] + (r.nextInt(4) == 0 ? r.nextInt(100) : 0);
                case LONG -> r.nextInt(6) == 0 ? r.nextLong() : LONGS[r.nextInt(LONGS.length)];
                case BOOLEAN -> r.nextBoolean();
                case FLOAT -> r.nextFloat() * (r.nextBoolean() ? 1e30f : -1f);
                case DOUBLE -> r.nextDouble() * 1e300;
                case BYTE_STRING -> ByteString.copyFrom(bytes());
                case ENUM -> enumValue(f.getEnumType());
                case MESSAGE -> throw new IllegalStateException("not a scalar: " + f);
            };
        }

        Object enumValue(EnumDescriptor e) {
            if (r.nextInt(5) == 0) {
                return e.findValueByNumberCreatingIfUnknown(r.nextBoolean() ? 99 + r.nextInt(1000) : -1 - r.nextInt(5));
            }
            return e.getValues().get(r.nextInt(e.getValues().size()));
        }

        byte[] bytes() {
            int n = r.nextInt(10) == 0 ? take(1 << (10 + r.nextInt(12))) : r.nextInt(64);
            byte[] b = new byte[n];
            r.nextBytes(b);
            return b;
        }

        /** Up to {@code n} bytes of the request's budget for huge values. */
        int take(int n) {
            int granted = Math.min(n, budget);
            budget -= granted;
            return granted;
        }

        String hex(int n) {
            StringBuilder s = new StringBuilder();
            for (int i = 0; i < n; i++) {
                s.append("0123456789abcdef".charAt(r.nextInt(16)));
            }
            return s.toString();
        }

        String string(String field, String context) {
            String f = field.toLowerCase();
            if (f.equals("pod_sandbox_id") || f.equals("container_id") || f.equals("id") || f.endsWith("_id")) {
                return id(f.contains("pod") ? pools.pods() : f.contains("container") ? pools.containers() : all());
            }
            if (f.equals("image") || f.equals("image_ref") || f.equals("user_specified_image")) {
                return image();
            }
            boolean logLike = f.equals("log_directory") || f.equals("location");
            if (logLike || f.contains("path") || f.contains("dir") || f.contains("profile") || f.equals("localhost_ref")) {
                return path(f, logLike);
            }
            return hostile(r.nextInt(5) == 0 ? "" : f);
        }

        List<String> all() {
            List<String> a = new ArrayList<>(pools.pods());
            a.addAll(pools.containers());
            return a;
        }

        String id(List<String> real) {
            String m = setup.marker();
            return switch (r.nextInt(12)) {
                case 0, 1, 2, 3 -> real.isEmpty() ? hex(64) : real.get(r.nextInt(real.size()));
                case 4 -> real.isEmpty() ? hex(12) : real.get(r.nextInt(real.size())).substring(0, 1 + r.nextInt(12));
                case 5 -> hex(64);
                case 6 -> "f".repeat(64);
                case 7 -> "../../" + m;
                case 8 -> "";
                case 9 -> m + "\0" + hex(8);
                case 10 -> (real.isEmpty() ? hex(64) : real.get(0)).toUpperCase();
                default -> hostile("id");
            };
        }

        String image() {
            String m = setup.marker();
            List<String> imgs = pools.images();
            return switch (r.nextInt(9)) {
                case 0, 1 -> imgs.isEmpty() ? setup.imageRef() : imgs.get(r.nextInt(imgs.size()));
                case 2 -> setup.imageRef();
                case 3 -> "sha256:" + hex(64);
                case 4 -> setup.registryHost() + "/fuzz/" + m + ":latest";
                case 5 -> setup.registryHost() + "/fuzz/../../" + m;
                case 6 -> "fuzz/" + m + "@sha256:" + hex(64);
                default -> hostile("image");
            };
        }

        /** A path with the marker; {@code logLike} fields never get an absolute path outside the run's directory without {@code ..}. */
        String path(String field, boolean logLike) {
            String m = setup.marker();
            String owned = setup.ownedDir().toString();
            List<String> choices = new ArrayList<>(List.of(
                    "../../../../../../../../tmp/" + m,
                    m + "/../../../../../../../../tmp/" + m + "x",
                    "lnk/" + m + ".log",
                    "lnk/../" + m,
                    owned + "/" + m + "/sub",
                    owned + "/../../../../../../tmp/" + m,
                    m,
                    "./" + m,
                    "a/\0/" + m,
                    ("d" + m + "/").repeat(1 + take(400)),
                    "" + m + "\n/etc/passwd",
                    m + "/" + "x".repeat(take(5000))));
            if (!logLike) {
                choices.addAll(List.of("/tmp/" + m, "/var/log/" + m, "/etc/" + m, "/run/" + m, "/dev/shm/" + m,
                        "/proc/self/root/tmp/" + m, "/tmp/" + m + "/../" + m + "y"));
            }
            if (field.contains("profile") || field.equals("localhost_ref") || field.equals("host_path")) {
                choices.addAll(List.of("/dev/zero", "/dev/urandom", setup.fifo().toString(), "/proc/self/mem", "/proc/kcore"));
            }
            return choices.get(r.nextInt(choices.size()));
        }

        /** A hostile string: it names the field's family and carries the marker (or is one of a few without room for it). */
        String hostile(String hint) {
            String m = setup.marker();
            return switch (r.nextInt(16)) {
                case 0 -> "";
                case 1 -> m;
                case 2 -> hint + "-" + m;
                case 3 -> "../../../../../../tmp/" + m;
                case 4 -> "/tmp/" + m;
                case 5 -> m + "\0" + "tail";
                case 6 -> m + "x".repeat(take(1 << (8 + r.nextInt(15))));
                case 7 -> "ä\u202e" + m + "\uD83D\uDE00";
                case 8 -> ".";
                case 9 -> "..";
                case 10 -> "/";
                case 11 -> m + "\n" + m + "=" + m + ";" + m + "$(" + m + ")";
                case 12 -> ("e" + m + "/").repeat(1 + take(300));
                case 13 -> m + " " + "-".repeat(r.nextInt(100));
                case 14 -> "dev.berth.shm-size";
                default -> hint.toUpperCase() + m + "%00%2e%2e";
            };
        }

        /** Keeps the request from harming the machine (not berth): see the class comment. */
        void sanitize(Message.Builder b, String rpc) {
            Map<FieldDescriptor, Object> fields = new TreeMap<>((x, y) -> Integer.compare(x.getIndex(), y.getIndex()));
            fields.putAll(b.getAllFields());
            for (Map.Entry<FieldDescriptor, Object> e : fields.entrySet()) {
                FieldDescriptor f = e.getKey();
                String n = f.getName();
                if (n.equals("host_port") && !f.isRepeated()) {
                    b.setField(f, HOST_PORTS[r.nextInt(HOST_PORTS.length)]);
                } else if (n.equals("pod_cidr")) {
                    String[] cidrs = {"10.199.176.0/20", "", "10.199.176.0/33", "bad" + setup.marker(), "999.1.1.1/8",
                        "10.199.176.0/20," + setup.marker()};
                    b.setField(f, cidrs[r.nextInt(cidrs.length)]);
                } else if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
                    if (f.isMapField()) {
                        continue;
                    }
                    if (f.isRepeated()) {
                        int count = b.getRepeatedFieldCount(f);
                        for (int i = 0; i < count; i++) {
                            Message.Builder sub = ((Message) b.getRepeatedField(f, i)).toBuilder();
                            sanitize(sub, rpc);
                            b.setRepeatedField(f, i, sub.build());
                        }
                    } else {
                        sanitize(b.getFieldBuilder(f), rpc);
                    }
                }
            }
            if (rpc.equals("PullImage") && b.getDescriptorForType().getName().equals("ImageSpec")) {
                FieldDescriptor image = b.getDescriptorForType().findFieldByName("image");
                String ref = (String) b.getField(image);
                if (!ref.startsWith(setup.registryHost() + "/")) {
                    String host = r.nextBoolean() ? setup.registryHost() : "127.0.0.1:" + setup.closedPort();
                    String rest = ref.replaceFirst("^[^/]*/", "");
                    b.setField(image, host + "/" + (rest.isEmpty() ? setup.marker() : rest));
                }
            }
            if (rpc.equals("PullImage") && b.getDescriptorForType().getName().equals("PullImageRequest")
                    && !b.hasField(b.getDescriptorForType().findFieldByName("image"))) {
                FieldDescriptor image = b.getDescriptorForType().findFieldByName("image");
                b.setField(image, ImageSpec.newBuilder().setImage("127.0.0.1:" + setup.closedPort() + "/" + setup.marker()).build());
            }
        }
    }

    /** Per-method counts of a run, for the suite's figures. */
    public static final class Tally {
        private final Map<String, int[]> byMethod = new LinkedHashMap<>();
        private final Map<Status.Code, Integer> byCode = new TreeMap<>();
        private final List<Outcome> failures = new ArrayList<>();
        private long slowestMillis;
        private String slowest = "";

        public void add(Outcome o) {
            int[] c = byMethod.computeIfAbsent(o.method().substring(o.method().indexOf('/') + 1), k -> new int[3]);
            if (o.code() == Status.Code.OK) {
                c[0]++;
            } else if (o.proper()) {
                c[1]++;
            } else {
                c[2]++;
                failures.add(o);
            }
            byCode.merge(o.code(), 1, Integer::sum);
            if (o.millis() > slowestMillis) {
                slowestMillis = o.millis();
                slowest = o.method() + " #" + o.index();
            }
        }

        public List<Outcome> failures() {
            return failures;
        }

        public int total() {
            return byCode.values().stream().mapToInt(Integer::intValue).sum();
        }

        public int ok() {
            return byCode.getOrDefault(Status.Code.OK, 0);
        }

        public String table() {
            StringBuilder s = new StringBuilder(String.format("%-28s %6s %9s %7s%n", "method", "ok", "rejected", "failed"));
            new TreeMap<>(byMethod).forEach((m, c) -> s.append(String.format("%-28s %6d %9d %7d%n", m, c[0], c[1], c[2])));
            s.append("codes: ").append(byCode).append("; slowest ").append(slowest).append(' ').append(slowestMillis).append(" ms");
            return s.toString();
        }
    }
}
