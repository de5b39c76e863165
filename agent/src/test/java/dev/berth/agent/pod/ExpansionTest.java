package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.Test;

class ExpansionTest {
    private static final Map<String, String> VARS = Map.of("A", "1", "B", "two", "EMPTY", "");

    private static String expand(String s) {
        return Expansion.expand(s, VARS::get);
    }

    @Test
    void definedVariablesAreReplacedAndOthersStayAsWritten() {
        assertEquals("1-two", expand("$(A)-$(B)"));
        assertEquals("x$(C)y", expand("x$(C)y"));
        assertEquals("[]", expand("[$(EMPTY)]"));
        assertEquals("$()", expand("$()"));
    }

    @Test
    void dollarsEscapeAndLoneOnesStay() {
        assertEquals("$(A)", expand("$$(A)"));
        assertEquals("$1", expand("$$$(A)"));
        assertEquals("a$b $", expand("a$b $"));
        assertEquals("$(A", expand("$(A"));
        assertEquals("$(x $", expand("$(x $$"), "after an unclosed $( the text is read on");
        assertEquals("$HOME", expand("$HOME"));
    }
}
