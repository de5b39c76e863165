package dev.berth.cli.client;

import dev.berth.cri.v1.VersionRequest;
import dev.berth.cri.v1.VersionResponse;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code berth version}: the runtime's name and versions (CRI Version), as crictl prints them. */
@Command(name = "version", mixinStandardHelpOptions = true,
        description = "Show the runtime's name, its version and the CRI version it serves.",
        footerHeading = "%nExamples:%n",
        footer = {"  berth version",
            "  berth version -o json",
            "  berth -r unix:///run/containerd/containerd.sock version"})
final class VersionCommand implements Callable<Integer> {
    @Mixin
    ClientOptions options;

    @Spec
    CommandSpec spec;

    @Option(names = {"-o", "--output"}, paramLabel = "FORMAT", converter = Listing.FormatConverter.class, defaultValue = "table",
            description = "table (the four lines), json or yaml (default: table)")
    Output.Format format;

    @Override
    public Integer call() {
        try (CriSession cri = options.connect()) {
            VersionResponse v = cri.runtime().version(VersionRequest.newBuilder().setVersion("v1").build());
            PrintWriter out = spec.commandLine().getOut();
            if (format == Output.Format.TABLE) {
                print(out, v);
            } else {
                Output.print(out, format, v);
            }
            out.flush();
        }
        return ExitCodes.OK;
    }

    /** crictl's four lines; the runtime's strings cleaned of control characters. */
    static void print(PrintWriter out, VersionResponse v) {
        out.println("Version:  " + Listing.text(v.getVersion()));
        out.println("RuntimeName:  " + Listing.text(v.getRuntimeName()));
        out.println("RuntimeVersion:  " + Listing.text(v.getRuntimeVersion()));
        out.println("RuntimeApiVersion:  " + Listing.text(v.getRuntimeApiVersion()));
    }
}
