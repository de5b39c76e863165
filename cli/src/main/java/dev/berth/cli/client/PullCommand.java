package dev.berth.cli.client;

import dev.berth.cri.v1.PodSandboxConfig;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth pull}: PullImage, with a live display fed by berth's PullProgress side channel. */
@Command(name = "pull", mixinStandardHelpOptions = true, description = {"Pull an image from a registry.",
        "On a terminal, progress is redrawn in place on stderr: the time elapsed with any runtime, and with berth each layer's "
                + "state and bytes (berth.v1.PullProgress beside the CRI). Elsewhere, plain lines; none with --quiet. "
                + "stdout gets one line, \"Image is up to date for ID\", as crictl prints it."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth pull busybox:1.36",
                "  berth pull --creds alice:s3cret registry.example:5000/team/app:v2",
                "  echo \"$TOKEN\" | berth pull --username bot --password-stdin registry.example/app",
                "  berth pull -q --pull-timeout 5m docker.io/library/nginx:1.27 > /dev/null"})
final class PullCommand implements Callable<Integer> {
    @Mixin
    ClientOptions options;
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "IMAGE", description = "the image reference, e.g. busybox or host:5000/ns/app:tag")
    String image;

    @Option(names = "--creds", paramLabel = "USER[:PASSWORD]", description = "registry credentials")
    String creds;

    @Option(names = "--auth", paramLabel = "BASE64", description = "registry credentials as base64 of USER:PASSWORD")
    String auth;

    @Option(names = {"-u", "--username"}, paramLabel = "USER", description = "registry user; the password comes from --password-stdin")
    String username;

    @Option(names = "--password-stdin", description = "read the password for --username from stdin (one line)")
    boolean passwordStdin;

    @Option(names = "--pod-config", paramLabel = "FILE", description = "the pod sandbox config (JSON or YAML) the image is for")
    Path podConfig;

    @Option(names = {"-a", "--annotation"}, paramLabel = "KEY=VALUE", description = "an annotation of the image spec (repeatable)")
    Map<String, String> annotations = new LinkedHashMap<>();

    @Option(names = "--pull-timeout", paramLabel = "DURATION", description = "give up after this long: 90s, 5m, 1h (default: no limit)")
    String pullTimeout;

    @Option(names = {"-q", "--quiet"}, description = "no progress, only the result line")
    boolean quiet;

    @Option(names = "--progress", paramLabel = "auto|tty|plain", description = "how progress is shown (default auto: tty on a terminal)")
    String progress = "auto";

    @Override
    public Integer call() {
        String password = null;
        if (passwordStdin) {
            if (username == null) {
                throw ClientException.usage("--password-stdin needs --username");
            }
            password = readLine();
        }
        var authConfig = Pulls.auth(creds, auth, username, password);
        PodSandboxConfig pod = podConfig == null ? null : CriConfigs.podConfig(podConfig);
        Duration timeout = pullTimeout == null ? null : duration("--pull-timeout", pullTimeout);
        PullDisplay display = new PullDisplay(spec.commandLine().getErr(), mode(quiet, progress), image);
        try (CriSession cri = options.connect()) {
            String ref = Pulls.pull(cri, image, authConfig, pod, annotations, timeout, display);
            spec.commandLine().getOut().println("Image is up to date for " + ref);
        }
        return ExitCodes.OK;
    }

    static PullDisplay.Mode mode(boolean quiet, String progress) {
        if (quiet) {
            return PullDisplay.Mode.QUIET;
        }
        return switch (progress.toLowerCase(Locale.ROOT)) {
            case "tty" -> PullDisplay.Mode.TTY;
            case "plain" -> PullDisplay.Mode.PLAIN;
            case "auto" -> System.console() != null ? PullDisplay.Mode.TTY : PullDisplay.Mode.PLAIN;
            default -> throw ClientException.usage("--progress is auto, tty or plain, got \"" + progress + "\"");
        };
    }

    private static String readLine() {
        try {
            String l = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
            if (l == null || l.isEmpty()) {
                throw ClientException.usage("--password-stdin: no password on stdin");
            }
            return l;
        } catch (IOException e) {
            throw ClientException.usage("--password-stdin: " + e.getMessage());
        }
    }

    /** 90s, 5m, 1h30m, 250ms, or plain seconds. */
    static Duration duration(String option, String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        try {
            if (t.matches("\\d+")) {
                return positive(option, Duration.ofSeconds(Long.parseLong(t)));
            }
            if (t.matches("(\\d+(ms|s|m|h))+")) {
                Duration d = Duration.ZERO;
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)(ms|s|m|h)").matcher(t);
                while (m.find()) {
                    long n = Long.parseLong(m.group(1));
                    d = d.plus(switch (m.group(2)) {
                        case "ms" -> Duration.ofMillis(n);
                        case "s" -> Duration.ofSeconds(n);
                        case "m" -> Duration.ofMinutes(n);
                        default -> Duration.ofHours(n);
                    });
                }
                return positive(option, d);
            }
        } catch (ArithmeticException | NumberFormatException e) {
            // too large: reported below
        }
        throw ClientException.usage(option + " is a duration such as 90s, 5m or 1h, got \"" + s + "\"");
    }

    private static Duration positive(String option, Duration d) {
        if (d.isZero()) {
            throw ClientException.usage(option + " must be more than 0");
        }
        return d;
    }
}
