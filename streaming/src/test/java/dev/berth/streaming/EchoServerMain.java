package dev.berth.streaming;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

/**
 * The port-forward tests' TCP echo server, started in a scratch network namespace with
 * {@code ip netns exec NS java -cp … EchoServerMain PORT}: it listens on 127.0.0.1:PORT with one
 * socket that stays open and a backlog of 128, and echoes each connection on a thread of its
 * own until the client's end of stream, then closes it. (busybox {@code nc -ll} listened anew
 * after each connection, so a connection arriving in between was reset.)
 */
public final class EchoServerMain {
    private EchoServerMain() {
    }

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(args[0]);
        try (ServerSocket server = new ServerSocket(port, 128, InetAddress.getLoopbackAddress())) {
            serve(server);
        }
    }

    /**
     * The same server in this process, in its own network namespace, on {@code address} and a
     * free port, accepting on a daemon thread until the returned socket is closed (the tests of
     * host-network port-forward, which dial the host's loopback).
     */
    public static ServerSocket inThisProcess(InetAddress address) throws IOException {
        ServerSocket server = new ServerSocket();
        server.bind(new java.net.InetSocketAddress(address, 0), 128);
        Thread t = new Thread(() -> {
            try {
                serve(server);
            } catch (IOException closed) {
                // the test closed it
            }
        }, "echo-accept");
        t.setDaemon(true);
        t.start();
        return server;
    }

    private static void serve(ServerSocket server) throws IOException {
        while (true) {
            Socket s = server.accept();
            Thread t = new Thread(() -> echo(s), "echo");
            t.setDaemon(true);
            t.start();
        }
    }

    private static void echo(Socket s) {
        try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
            in.transferTo(out);
        } catch (IOException e) {
            // the client went: nothing to echo
        }
    }

    /** The command that runs this server in network namespace {@code netns} on {@code port}. */
    static ProcessBuilder inNetns(String netns, int port) {
        return new ProcessBuilder("ip", "netns", "exec", netns, java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx32m", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"), EchoServerMain.class.getName(),
                Integer.toString(port));
    }
}
