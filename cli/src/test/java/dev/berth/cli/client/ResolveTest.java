package dev.berth.cli.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ResolveTest {
    record Thing(String id, String name) {
    }

    static final List<Thing> ALL = List.of(new Thing("abc123", "web"), new Thing("abd456", "db"), new Thing("abc", "exact"),
            new Thing("ffff00", "twin"), new Thing("eeee00", "twin"), new Thing("sha256:9999aa", "image"));

    static String pick(String what) {
        return Resolve.pick("container", what, ALL, Thing::id, Thing::name);
    }

    static ClientException fails(String what) {
        return assertThrows(ClientException.class, () -> pick(what));
    }

    @Test
    void aFullIdAUniquePrefixOrANameResolves() {
        assertEquals("abd456", pick("abd456"));
        assertEquals("abc", pick("abc"), "a full ID wins over the IDs it is a prefix of");
        assertEquals("abd456", pick("abd"));
        assertEquals("abc123", pick("web"));
        assertEquals("sha256:9999aa", pick("9999"), "a prefix of the digest without its algorithm");
        assertEquals("sha256:9999aa", pick("sha256:9999aa"));
    }

    @Test
    void ambiguityAndAbsenceAreNotFound() {
        ClientException ambiguousPrefix = fails("ab");
        assertEquals(ExitCodes.NOT_FOUND, ambiguousPrefix.exitCode());
        assertTrue(ambiguousPrefix.getMessage().contains("matches 3 containers"), ambiguousPrefix.getMessage());
        ClientException ambiguousName = fails("twin");
        assertEquals(ExitCodes.NOT_FOUND, ambiguousName.exitCode());
        assertTrue(ambiguousName.getMessage().contains("2 containers are named \"twin\""), ambiguousName.getMessage());
        ClientException none = fails("nothing");
        assertEquals(ExitCodes.NOT_FOUND, none.exitCode());
        assertEquals("no such container: nothing", none.getMessage());
        assertEquals(ExitCodes.USAGE, fails("").exitCode());
    }
}
