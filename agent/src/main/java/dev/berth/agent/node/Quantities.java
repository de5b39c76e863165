package dev.berth.agent.node;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Kubernetes resource quantities ("100m", "1.5Gi", "10k", "1e3") as the node agent needs them:
 * read into whole base units (bytes, counts, or millicores for cpu, rounded up as the API's
 * {@code MilliValue} and {@code Value} do), and written back in the API's canonical forms.
 */
public final class Quantities {
    private static final Pattern QUANTITY = Pattern.compile("([+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?");
    private static final String[] BINARY = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};

    private Quantities() {
    }

    /** The exact value of a quantity; IllegalArgumentException when it is not one. */
    public static BigDecimal parse(String text) {
        Matcher m = QUANTITY.matcher(text == null ? "" : text.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("\"" + text + "\" is not a quantity (such as \"100m\", \"512Mi\", \"2\")");
        }
        BigDecimal n = new BigDecimal(m.group(1));
        String suffix = m.group(2);
        if (suffix == null) {
            return n;
        }
        return switch (suffix) {
            case "Ki" -> n.multiply(BigDecimal.valueOf(1L << 10));
            case "Mi" -> n.multiply(BigDecimal.valueOf(1L << 20));
            case "Gi" -> n.multiply(BigDecimal.valueOf(1L << 30));
            case "Ti" -> n.multiply(BigDecimal.valueOf(1L << 40));
            case "Pi" -> n.multiply(BigDecimal.valueOf(1L << 50));
            case "Ei" -> n.multiply(BigDecimal.valueOf(1L << 60));
            case "n" -> n.scaleByPowerOfTen(-9);
            case "u" -> n.scaleByPowerOfTen(-6);
            case "m" -> n.scaleByPowerOfTen(-3);
            case "k" -> n.scaleByPowerOfTen(3);
            case "M" -> n.scaleByPowerOfTen(6);
            case "G" -> n.scaleByPowerOfTen(9);
            case "T" -> n.scaleByPowerOfTen(12);
            case "P" -> n.scaleByPowerOfTen(15);
            case "E" -> n.scaleByPowerOfTen(18);
            default -> n.scaleByPowerOfTen(Integer.parseInt(suffix.substring(1)));
        };
    }

    /** A non-negative quantity in whole units, rounded up (bytes, pids, inodes). */
    public static long units(String text) {
        return whole(parse(text), text);
    }

    /** A non-negative cpu quantity in millicores, rounded up. */
    public static long millis(String text) {
        return whole(parse(text).scaleByPowerOfTen(3), text);
    }

    private static long whole(BigDecimal v, String text) {
        if (v.signum() < 0) {
            throw new IllegalArgumentException("\"" + text + "\" is negative");
        }
        try {
            return v.setScale(0, RoundingMode.CEILING).longValueExact();
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("\"" + text + "\" is too large");
        }
    }

    /** Millicores as the API writes cpu: "2" for whole cores, "1900m" otherwise. */
    public static String cpu(long millis) {
        return millis % 1000 == 0 ? Long.toString(millis / 1000) : millis + "m";
    }

    /** Bytes as the API writes binary quantities: the largest binary suffix that divides exactly ("16331876Ki"), else plain. */
    public static String bytes(long bytes) {
        if (bytes == 0) {
            return "0";
        }
        String suffix = "";
        long v = bytes;
        for (String s : BINARY) {
            if (v % 1024 != 0) {
                break;
            }
            v /= 1024;
            suffix = s;
        }
        return v + suffix;
    }
}
