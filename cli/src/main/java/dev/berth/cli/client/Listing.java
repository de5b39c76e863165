package dev.berth.cli.client;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToLongFunction;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import picocli.CommandLine;

/** What the list commands (pods, ps, images, stats) share: filters as crictl spells them, newest first, -o. */
final class Listing {
    private Listing() {
    }

    /** {@code -o}/{@code --output} as picocli reads it: table, json or yaml; anything else is a usage error. */
    static final class FormatConverter implements CommandLine.ITypeConverter<Output.Format> {
        @Override
        public Output.Format convert(String value) {
            try {
                return Output.Format.parse(value);
            } catch (ClientException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** {@code --label k=v} options as a label selector; a label without '=' or with an empty key is a usage error. */
    static Map<String, String> labels(List<String> options) {
        Map<String, String> m = new LinkedHashMap<>();
        if (options == null) {
            return m;
        }
        for (String s : options) {
            int eq = s.indexOf('=');
            if (eq <= 0) {
                throw ClientException.usage("--label takes KEY=VALUE, got \"" + s + "\"");
            }
            m.put(s.substring(0, eq), s.substring(eq + 1));
        }
        return m;
    }

    /** A regular expression option (null when not given); a malformed one is a usage error. */
    static Pattern regex(String option, String pattern) {
        if (pattern == null || pattern.isEmpty()) {
            return null;
        }
        try {
            return Pattern.compile(pattern);
        } catch (PatternSyntaxException e) {
            throw ClientException.usage(option + ": not a regular expression: " + e.getDescription());
        }
    }

    /** Whether {@code value} contains a match of {@code re} (unanchored, as crictl matches); true without a pattern. */
    static boolean matches(Pattern re, String value) {
        return re == null || re.matcher(value).find();
    }

    /** Whether every label of {@code selector} is in {@code labels} with that value. */
    static boolean hasLabels(Map<String, String> labels, Map<String, String> selector) {
        return selector.entrySet().stream().allMatch(e -> e.getValue().equals(labels.get(e.getKey())));
    }

    /** Newest first, then the first one ({@code latest}) or the first {@code last} (when positive). */
    static <T> List<T> newestFirst(List<T> items, ToLongFunction<T> created, boolean latest, int last) {
        List<T> sorted = new ArrayList<>(items);
        sorted.sort(Comparator.comparingLong(created).reversed());
        int n = sorted.size();
        if (latest) {
            n = 1;
        }
        if (last > 0) {
            n = last;
        }
        return sorted.subList(0, Math.min(n, sorted.size()));
    }

    /** A runtime's string for a line of text: control characters shown as '?', cut as a table cell is. */
    static String text(String s) {
        return Table.bounded(Table.clean(s));
    }

    /** An ID as a table shows it: whole with --no-trunc, else its first characters (without {@code sha256:}). */
    static String id(String id, boolean noTrunc) {
        return noTrunc ? id : Output.shortId(id);
    }

    /** An image as ps shows it: a digest shortened as an ID is, a reference as is. */
    static String image(String image, boolean noTrunc) {
        if (!noTrunc && image.matches("[a-z0-9]+:[0-9a-f]{32,}")) {
            String hex = image.substring(image.indexOf(':') + 1);
            return hex.substring(0, Math.min(Output.SHORT_ID, hex.length()));
        }
        return image;
    }
}
