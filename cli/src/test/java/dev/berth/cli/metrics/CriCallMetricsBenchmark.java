package dev.berth.cli.metrics;

import dev.berth.criserver.grpc.CallLogging;
import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.cli.logging.Logging;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.VersionRequest;
import dev.berth.cri.v1.VersionResponse;
import dev.berth.criserver.grpc.CriServer;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Not a test: measures what {@link CriCallMetrics} adds to a trivial CRI call. Two in-process
 * gRPC servers answer Version, one with berth's call logging only and one with the metrics
 * interceptor as well; rounds of calls alternate between them so that both see the same
 * machine noise. Prints the median and the 99th percentile of each.
 *
 * <p>Run: {@code java -cp cli/target/classes:cli/target/test-classes:<test classpath>
 * dev.berth.cli.metrics.CriCallMetricsBenchmark [calls]}.
 */
public final class CriCallMetricsBenchmark {
    private CriCallMetricsBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int calls = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        int rounds = 10;
        Logging.configure("info", "text");
        try (BerthMetrics metrics = BerthMetrics.create()) {
            Endpoint plain = Endpoint.start(new CallLogging());
            Endpoint measured = Endpoint.start(new CallLogging(), new CriCallMetrics(metrics.registry()));
            try {
                // warm-up: JIT both paths
                plain.run(calls);
                measured.run(calls);
                List<Long> withoutNs = new ArrayList<>();
                List<Long> withNs = new ArrayList<>();
                for (int r = 0; r < rounds; r++) {
                    withoutNs.addAll(plain.run(calls / rounds));
                    withNs.addAll(measured.run(calls / rounds));
                }
                report("without CriCallMetrics", withoutNs);
                report("with CriCallMetrics   ", withNs);
                renderCost(metrics);
            } finally {
                plain.close();
                measured.close();
            }
            overSockets(metrics, calls, rounds);
        }
    }

    /** The same comparison through two real CRI servers on UNIX sockets, as the kubelet calls berth. */
    private static void overSockets(BerthMetrics metrics, int calls, int rounds) throws Exception {
        Path dir = Files.createTempDirectory("berth-bench");
        CriRegistry cri = new CriRegistry();
        VersionResponse answer = VersionResponse.newBuilder().setRuntimeName("berth").setVersion("0.1.0").build();
        cri.unary(RuntimeServiceGrpc.getVersionMethod(), request -> answer);
        CriServer plain = CriServer.start(dir.resolve("plain.sock"), cri, 1 << 20);
        CriServer measured = CriServer.start(dir.resolve("measured.sock"), cri, 1 << 20, new CriCallMetrics(metrics.registry()));
        ManagedChannel plainChannel = Grpc.newChannelBuilder("unix://" + plain.socket(), InsecureChannelCredentials.create()).build();
        ManagedChannel measuredChannel = Grpc.newChannelBuilder("unix://" + measured.socket(), InsecureChannelCredentials.create()).build();
        try {
            int n = Math.max(rounds, calls / 5);
            Endpoint.time(plainChannel, n);
            Endpoint.time(measuredChannel, n);
            List<Long> withoutNs = new ArrayList<>();
            List<Long> withNs = new ArrayList<>();
            for (int r = 0; r < rounds; r++) {
                withoutNs.addAll(Endpoint.time(plainChannel, n / rounds));
                withNs.addAll(Endpoint.time(measuredChannel, n / rounds));
            }
            report("UNIX socket, without CriCallMetrics", withoutNs);
            report("UNIX socket, with CriCallMetrics   ", withNs);
        } finally {
            plainChannel.shutdownNow();
            measuredChannel.shutdownNow();
            plain.close();
            measured.close();
            Files.deleteIfExists(dir);
        }
    }

    /** Server-side cost of one /metrics answer: snapshot plus text rendering, without HTTP. */
    private static void renderCost(BerthMetrics metrics) throws java.io.IOException {
        List<Long> nanos = new ArrayList<>();
        int size = 0;
        for (int i = 0; i < 2_000; i++) {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(16 * 1024);
            long t0 = System.nanoTime();
            Exposition.TEXT.write(out, metrics.snapshot());
            nanos.add(System.nanoTime() - t0);
            size = out.size();
        }
        report("render /metrics (" + size + " bytes)", nanos.subList(1_000, nanos.size()));
    }

    private static void report(String label, List<Long> nanos) {
        long[] sorted = nanos.stream().mapToLong(Long::longValue).sorted().toArray();
        System.out.printf("%s: %d samples, median %.2f us, p99 %.2f us, mean %.2f us%n", label, sorted.length,
                sorted[sorted.length / 2] / 1e3, sorted[(int) (sorted.length * 0.99)] / 1e3,
                Arrays.stream(sorted).average().orElse(0) / 1e3);
    }

    private record Endpoint(Server server, ManagedChannel channel) {
        static Endpoint start(ServerInterceptor... interceptors) throws Exception {
            CriRegistry cri = new CriRegistry();
            VersionResponse answer = VersionResponse.newBuilder().setRuntimeName("berth").setVersion("0.1.0").build();
            cri.unary(RuntimeServiceGrpc.getVersionMethod(), request -> answer);
            String name = InProcessServerBuilder.generateName();
            Server server = InProcessServerBuilder.forName(name).directExecutor()
                    .addService(ServerInterceptors.intercept(cri.runtimeService(), interceptors))
                    .build().start();
            return new Endpoint(server, InProcessChannelBuilder.forName(name).directExecutor().build());
        }

        List<Long> run(int n) {
            return time(channel, n);
        }

        static List<Long> time(ManagedChannel channel, int n) {
            RuntimeServiceGrpc.RuntimeServiceBlockingStub stub = RuntimeServiceGrpc.newBlockingStub(channel);
            VersionRequest request = VersionRequest.getDefaultInstance();
            List<Long> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                long t0 = System.nanoTime();
                stub.version(request);
                out.add(System.nanoTime() - t0);
            }
            return out;
        }

        void close() throws InterruptedException {
            channel.shutdownNow();
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
