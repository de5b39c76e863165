package dev.berth.cli.client;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/** A plain text table: a header row and rows, columns left-aligned and three spaces apart, as crictl prints them. */
public final class Table {
    static final int GAP = 3;
    /** The most characters a cell shows: a runtime's 10 MB name cannot make every row of a table 10 MB wide. */
    static final int MAX_CELL = 512;

    private final List<String[]> rows = new ArrayList<>();
    private final int columns;

    public Table(String... header) {
        this.columns = header.length;
        rows.add(header.clone());
    }

    /** Adds a row; null cells print empty. */
    public Table row(Object... cells) {
        if (cells.length != columns) {
            throw new IllegalArgumentException("a row of " + cells.length + " cells in a table of " + columns + " columns");
        }
        String[] r = new String[columns];
        for (int i = 0; i < columns; i++) {
            r[i] = cells[i] == null ? "" : bounded(clean(cells[i].toString()));
        }
        rows.add(r);
        return this;
    }

    /** How many rows besides the header. */
    public int size() {
        return rows.size() - 1;
    }

    public void print(PrintWriter out) {
        int[] width = new int[columns];
        for (String[] r : rows) {
            for (int i = 0; i < columns; i++) {
                width[i] = Math.max(width[i], r[i].length());
            }
        }
        StringBuilder sb = new StringBuilder();
        for (String[] r : rows) {
            sb.setLength(0);
            for (int i = 0; i < columns; i++) {
                sb.append(r[i]);
                if (i < columns - 1) {
                    sb.append(" ".repeat(width[i] - r[i].length() + GAP));
                }
            }
            out.println(sb.toString().stripTrailing());
        }
    }

    /** A cell cut to {@link #MAX_CELL} characters, "..." marking the cut. */
    static String bounded(String s) {
        return s.length() <= MAX_CELL ? s : s.substring(0, MAX_CELL - 3) + "...";
    }

    /** Control characters (a hostile name's escape sequences, newlines) shown as '?' so they cannot drive the terminal. */
    static String clean(String s) {
        StringBuilder b = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isISOControl(c)) {
                if (b == null) {
                    b = new StringBuilder(s.substring(0, i));
                }
                b.append('?');
            } else if (b != null) {
                b.append(c);
            }
        }
        return b == null ? s : b.toString();
    }
}
