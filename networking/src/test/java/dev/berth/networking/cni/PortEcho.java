package dev.berth.networking.cni;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * A tiny echo server the tests start inside a pod's namespace ({@code ip netns exec NS java ...}):
 * {@code PortEcho tcp|udp PORT} prints "listening" once bound and answers each connection or
 * datagram with "echo:" and what it received, until killed.
 */
public final class PortEcho {
    private PortEcho() {
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[1]);
        if (args[0].equals("udp")) {
            try (DatagramSocket s = new DatagramSocket(port)) {
                System.out.println("listening");
                System.out.flush();
                byte[] buf = new byte[1500];
                while (true) {
                    DatagramPacket p = new DatagramPacket(buf, buf.length);
                    s.receive(p);
                    byte[] reply = ("echo:" + new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8);
                    s.send(new DatagramPacket(reply, reply.length, p.getSocketAddress()));
                }
            }
        }
        try (ServerSocket s = new ServerSocket(port)) {
            System.out.println("listening");
            System.out.flush();
            while (true) {
                try (Socket c = s.accept(); InputStream in = c.getInputStream(); OutputStream out = c.getOutputStream()) {
                    byte[] buf = new byte[256];
                    int n = in.read(buf);
                    out.write(("echo:" + new String(buf, 0, Math.max(n, 0), StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8));
                }
            }
        }
    }
}
