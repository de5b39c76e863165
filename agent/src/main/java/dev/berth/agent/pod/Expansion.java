package dev.berth.agent.pod;

import java.util.function.Function;

/**
 * Kubernetes' {@code $(VAR)} expansion of env values, command and args: {@code $(NAME)} becomes
 * the variable's value when it is defined and stays as written when it is not; {@code $$}
 * is a literal {@code $}; any other {@code $} (also an unclosed {@code $(}) stays as it is, and the
 * text after it is read on.
 */
public final class Expansion {
    private Expansion() {
    }

    /** {@code input} with each {@code $(NAME)} that {@code lookup} knows (non-null) replaced. */
    public static String expand(String input, Function<String, String> lookup) {
        StringBuilder out = new StringBuilder(input.length());
        int i = 0;
        while (i < input.length()) {
            char c = input.charAt(i);
            if (c != '$' || i + 1 >= input.length()) {
                out.append(c);
                i++;
                continue;
            }
            char next = input.charAt(i + 1);
            if (next == '$') {
                out.append('$');
                i += 2;
            } else if (next == '(') {
                int close = input.indexOf(')', i + 2);
                if (close < 0) {
                    out.append("$(");
                    i += 2;
                    continue;
                }
                String name = input.substring(i + 2, close);
                String value = name.isEmpty() ? null : lookup.apply(name);
                out.append(value != null ? value : input.substring(i, close + 1));
                i = close + 1;
            } else {
                out.append(c);
                i++;
            }
        }
        return out.toString();
    }
}
