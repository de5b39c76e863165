package dev.berth.agent.server;

import java.io.IOException;

/**
 * One path of the agent's HTTP API that answers a plain request (no protocol upgrade). It may
 * block (a followed log does until the client goes or the container ends): the server calls it
 * on a thread of its own, never on an I/O thread. The request is already authenticated and
 * authorized.
 */
@FunctionalInterface
public interface Endpoint {
    void handle(EndpointRequest request, EndpointResponse response) throws IOException;
}
