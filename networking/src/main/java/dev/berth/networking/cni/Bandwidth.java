package dev.berth.networking.cni;

import dev.berth.common.BerthException;
import java.math.BigDecimal;

/** Kubernetes bandwidth annotations ("10M", "1Gi", "500k") as bits per second. */
final class Bandwidth {
    private Bandwidth() {
    }

    static long bitsPerSecond(String quantity) {
        String q = quantity.trim();
        long mult = 1;
        String[][] suffixes = {{"Ki", "1024"}, {"Mi", "1048576"}, {"Gi", "1073741824"}, {"Ti", "1099511627776"},
            {"k", "1000"}, {"M", "1000000"}, {"G", "1000000000"}, {"T", "1000000000000"}};
        for (String[] s : suffixes) {
            if (q.endsWith(s[0])) {
                mult = Long.parseLong(s[1]);
                q = q.substring(0, q.length() - s[0].length());
                break;
            }
        }
        try {
            BigDecimal v = new BigDecimal(q).multiply(BigDecimal.valueOf(mult));
            if (v.signum() <= 0) {
                throw new NumberFormatException("not positive");
            }
            return v.longValueExact();
        } catch (NumberFormatException | ArithmeticException e) {
            throw BerthException.invalidArgument("bandwidth annotation value \"%s\" is not a positive quantity such as 10M or 1Gi", quantity);
        }
    }
}
