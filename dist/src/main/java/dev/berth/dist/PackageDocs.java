package dev.berth.dist;

import dev.berth.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPOutputStream;
import picocli.CommandLine;
import picocli.CommandLine.Help.Ansi;

/**
 * The documents of berth's Debian package made at build time: the man page berth(1), rendered
 * from the help of every command {@link Main#commandLine()} has (so a command added there is
 * documented without touching this class), the Debian changelog Debian policy asks for, and
 * the bash completion of every command (as {@code berth completion bash} prints it). The first
 * two are written gzipped (gzip's header carries no time, so equal input gives equal bytes).
 */
public final class PackageDocs {
    /** Who the package names as its maintainer (control file and changelog alike). */
    public static final String MAINTAINER = "berth maintainers <maintainers@berth.invalid>";
    /** Width of each command's help in the man page: fits an 80-column terminal after man's indent. */
    static final int HELP_WIDTH = 72;

    /** The changelog's date, as RFC 5322 (and dpkg-parsechangelog) want it. */
    private static final DateTimeFormatter CHANGELOG_DATE = DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss Z", Locale.ENGLISH);
    private static final Pattern SNAPSHOT = Pattern.compile("(.*)[-+]SNAPSHOT");
    private static final Pattern PRE_RELEASE = Pattern.compile("(.*?)[.\\-_]?(alpha|beta|rc)(.*)", Pattern.CASE_INSENSITIVE);

    private PackageDocs() {
    }

    /** Writes berth.1.gz, changelog.Debian.gz and berth.bash-completion into {@code args[0]}; {@code args[1]} the Maven version, {@code args[2]} the build time (ISO-8601). */
    public static void main(String[] args) throws IOException {
        if (args.length != 3) {
            throw new IllegalArgumentException("usage: PackageDocs OUT_DIR MAVEN_VERSION BUILD_TIME");
        }
        Path out = Files.createDirectories(Path.of(args[0]));
        ZonedDateTime when = Instant.parse(args[2]).atZone(ZoneOffset.UTC);
        Files.write(out.resolve("berth.1.gz"), gzip(manPage(Main.commandLine(), args[1], when)));
        Files.write(out.resolve("changelog.Debian.gz"), gzip(changelog(args[1], when)));
        Files.writeString(out.resolve("berth.bash-completion"), picocli.AutoComplete.bash("berth", Main.commandLine()));
    }

    /**
     * The Debian version of a Maven version, as jdeb makes it for the control file: -SNAPSHOT
     * becomes ~SNAPSHOT and an alpha, beta or rc suffix is set off by ~, so that both sort
     * before the release they lead to.
     */
    public static String debianVersion(String mavenVersion) {
        String v = mavenVersion;
        Matcher snapshot = SNAPSHOT.matcher(v);
        if (snapshot.matches()) {
            v = snapshot.group(1) + "~SNAPSHOT";
        }
        Matcher pre = PRE_RELEASE.matcher(v);
        if (pre.matches()) {
            v = pre.group(1) + "~" + pre.group(2) + pre.group(3);
        }
        return v;
    }

    /** The package's changelog.Debian: one entry for the version built. */
    public static String changelog(String mavenVersion, ZonedDateTime when) {
        return "berth (" + debianVersion(mavenVersion) + ") unstable; urgency=medium\n\n"
                + "  * Built from berth's sources, version " + mavenVersion + ".\n\n"
                + " -- " + MAINTAINER + "  " + CHANGELOG_DATE.format(when.withZoneSameInstant(ZoneOffset.UTC)) + "\n";
    }

    /**
     * berth(1) in roff (man macros): the root command's description, then each visible command's
     * whole --help, depth first, as preformatted text.
     */
    public static String manPage(CommandLine root, String version, ZonedDateTime when) {
        root.setUsageHelpWidth(HELP_WIDTH);
        CommandLine.Model.CommandSpec spec = root.getCommandSpec();
        String name = spec.name();
        StringBuilder m = new StringBuilder();
        m.append(".TH ").append(name.toUpperCase(Locale.ROOT)).append(" 1 \"")
                .append(DateTimeFormatter.ISO_LOCAL_DATE.format(when)).append("\" \"")
                .append(escape(name + " " + version)).append("\" \"User Commands\"\n");
        String[] description = spec.usageMessage().description();
        String summary = description.length == 0 ? name : description[0].replaceFirst("^" + Pattern.quote(name) + ":\\s*", "");
        m.append(".SH NAME\n").append(escape(name)).append(" \\- ").append(escape(summary)).append('\n');
        m.append(".SH SYNOPSIS\n.B ").append(escape(name)).append("\n.I COMMAND\n[\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]\n");
        m.append(".SH DESCRIPTION\n");
        // the first line is the NAME section's summary
        for (int i = 1; i < description.length; i++) {
            m.append(escape(description[i])).append("\n.PP\n");
        }
        m.append("Each command's help follows; \\fB").append(escape(name))
                .append(" help\\fR \\fICOMMAND\\fR and \\fICOMMAND\\fR \\fB\\-\\-help\\fR print the same.\n");
        m.append(".SH COMMANDS\n");
        for (CommandLine c : commands(root)) {
            m.append(".SS \"").append(escape(c.getCommandSpec().qualifiedName(" "))).append("\"\n.nf\n");
            for (String line : c.getUsageMessage(Ansi.OFF).stripTrailing().split("\n", -1)) {
                m.append(escape(line.stripTrailing())).append('\n');
            }
            m.append(".fi\n");
        }
        m.append(".SH FILES\n");
        file(m, "/etc/berth/config.toml", "configuration; every key optional, each with its default and meaning in the file");
        file(m, "/var/lib/berth", "persistent state: images, layers, sandbox and container records");
        file(m, "/run/berth/berth.sock", "the CRI socket (runtime and image service)");
        file(m, "/etc/crictl.yaml", "the endpoints crictl and berth's client commands use when none is given");
        file(m, "/lib/systemd/system/berth.service", "the runtime (berth daemon)");
        file(m, "/lib/systemd/system/berth-agent.service", "the node agent (berth agent) on berth.service's socket; disabled by default");
        m.append(".SH ENVIRONMENT\n");
        file(m, "JAVA_HOME", "the JVM to run; else the newest JDK 17 or later under /usr/lib/jvm, else java on PATH");
        file(m, "BERTH_JAVA_OPTS", "extra JVM options");
        file(m, "BERTH_CDS", "off: start without the class-data archive /usr/lib/berth/berth.jsa (or berth.aot)");
        file(m, "CONTAINER_RUNTIME_ENDPOINT, IMAGE_SERVICE_ENDPOINT, CRI_CONFIG_FILE",
                "the client commands' endpoints, as crictl reads them");
        m.append(".SH SEE ALSO\n.BR crictl (1),\n.BR kubelet (1),\n.BR systemctl (1)\n");
        return m.toString();
    }

    private static void file(StringBuilder m, String path, String what) {
        m.append(".TP\n.B ").append(escape(path)).append('\n').append(escape(what)).append('\n');
    }

    /** The command and its visible subcommands, depth first, each once (aliases map to the same command). */
    static List<CommandLine> commands(CommandLine root) {
        List<CommandLine> all = new ArrayList<>();
        Set<CommandLine> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        walk(root, all, seen);
        return all;
    }

    private static void walk(CommandLine c, List<CommandLine> all, Set<CommandLine> seen) {
        if (!seen.add(c) || c.getCommandSpec().usageMessage().hidden()) {
            return;
        }
        all.add(c);
        for (CommandLine sub : c.getSubcommands().values()) {
            walk(sub, all, seen);
        }
    }

    /**
     * Text as roff shows it literally: backslashes and hyphens escaped (a bare - may print as a
     * typographic hyphen, which breaks copied options), and a leading . or ' kept from being read
     * as a request.
     */
    static String escape(String text) {
        String t = text.replace("\\", "\\e").replace("-", "\\-");
        return t.startsWith(".") || t.startsWith("'") ? "\\&" + t : t;
    }

    /** gzip of the text, UTF-8. */
    static byte[] gzip(String text) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(bytes)) {
            z.write(text.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }
}
