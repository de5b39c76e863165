package dev.berth.cli.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import dev.berth.cri.v1.StatusRequest;
import dev.berth.cri.v1.StatusResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code berth info}: the runtime's conditions and its verbose information (CRI Status with verbose), as crictl info prints them. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = {"Show the runtime's status: conditions, runtime handlers, features and the runtime's own information.",
            "The conditions are RuntimeReady and NetworkReady; the runtime's own information (berth: its configuration,",
            "paths, cgroup driver) is CRI Status's verbose info map with its JSON values parsed, as crictl info shows it."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth info",
            "  berth info -o yaml",
            "  berth info | jq '.status.conditions[] | select(.status == false)'"})
final class InfoCommand implements Callable<Integer> {
    @Mixin
    ClientOptions options;

    @Spec
    CommandSpec spec;

    @Option(names = {"-o", "--output"}, paramLabel = "FORMAT", converter = Listing.FormatConverter.class, defaultValue = "json",
            description = "json or yaml (default: json)")
    Output.Format format;

    @Override
    public Integer call() {
        if (format == Output.Format.TABLE) {
            throw ClientException.usage("info prints json or yaml");
        }
        try (CriSession cri = options.connect()) {
            StatusResponse s = cri.runtime().status(StatusRequest.newBuilder().setVerbose(true).build());
            PrintWriter out = spec.commandLine().getOut();
            Output.print(out, format, tree(s));
            out.flush();
        }
        return ExitCodes.OK;
    }

    /** {"status": conditions, "runtimeHandlers", "features", then each info entry by key, its JSON value parsed}. */
    static ObjectNode tree(StatusResponse s) {
        ObjectNode n = Output.JSON.createObjectNode();
        n.set("status", Output.tree(s.getStatus()));
        JsonNode whole = Output.tree(s);
        n.set("runtimeHandlers", whole.get("runtimeHandlers"));
        n.set("features", whole.get("features"));
        putInfo(n, s.getInfoMap());
        return n;
    }

    /** Each entry of a verbose info map, sorted by key: a JSON value parsed, anything else as a string. */
    static void putInfo(ObjectNode n, Map<String, String> info) {
        new TreeMap<>(info).forEach((k, v) -> n.set(k, parsed(v)));
    }

    static JsonNode parsed(String value) {
        try {
            JsonNode v = Output.JSON.readTree(value);
            return v == null || v.isMissingNode() ? TextNode.valueOf(value) : v;
        } catch (IOException e) {
            return TextNode.valueOf(value);
        }
    }
}
