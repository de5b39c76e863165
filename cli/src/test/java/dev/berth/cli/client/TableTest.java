package dev.berth.cli.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

class TableTest {
    static String print(Table t) {
        StringWriter s = new StringWriter();
        t.print(new PrintWriter(s, true));
        return s.toString();
    }

    @Test
    void columnsAreLeftAlignedThreeSpacesApartWithoutTrailingBlanks() {
        Table t = new Table("A", "LONGER", "C").row("xxxx", "y", null).row("z", 42, "end");
        assertEquals("A      LONGER   C\nxxxx   y\nz      42       end\n", print(t));
        assertEquals(2, t.size());
        assertThrows(IllegalArgumentException.class, () -> t.row("only one"));
    }

    @Test
    void controlCharactersOfHostileNamesAreShownAsQuestionMarks() {
        String out = print(new Table("NAME").row("a\u001b]0;pwned\u0007b\nc\rd\u009be"));
        assertEquals("NAME\na?]0;pwned?b?c?d?e\n", out);
        assertEquals("plain", Table.clean("plain"));
    }

    @Test
    void aHugeCellIsCut() {
        String out = print(new Table("NAME", "X").row("n".repeat(1_000_000), "x"));
        String row = out.split("\n")[1];
        assertTrue(row.length() < Table.MAX_CELL + 10, "a row of " + row.length());
        assertTrue(row.startsWith("n".repeat(Table.MAX_CELL - 3) + "..."), row.substring(0, 20));
        assertEquals("x", row.substring(row.length() - 1));
    }
}
