package dev.berth.cli.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.berth.cri.v1.VersionResponse;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class OutputTest {
    @Test
    void durationsAreSaidAsPeopleSayThem() {
        assertEquals("Less than a second", Output.human(Duration.ofMillis(999)));
        assertEquals("1 second", Output.human(Duration.ofSeconds(1)));
        assertEquals("59 seconds", Output.human(Duration.ofSeconds(59)));
        assertEquals("About a minute", Output.human(Duration.ofSeconds(90)));
        assertEquals("59 minutes", Output.human(Duration.ofMinutes(59)));
        assertEquals("About an hour", Output.human(Duration.ofMinutes(80)));
        assertEquals("47 hours", Output.human(Duration.ofHours(47)));
        assertEquals("3 days", Output.human(Duration.ofDays(3)));
        assertEquals("3 weeks", Output.human(Duration.ofDays(21)));
        assertEquals("4 months", Output.human(Duration.ofDays(120)));
        assertEquals("3 years", Output.human(Duration.ofDays(3 * 365 + 1)));
        assertEquals("5 minutes ago", Output.ago(1_000_000_000L * 60 * 10, 1000L * 60 * 15));
        assertEquals("", Output.ago(0, 1000), "no time, no age");
    }

    @Test
    void sizesHaveThreeSignificantDigitsInDecimalUnits() {
        assertEquals("0B", Output.size(0));
        assertEquals("512B", Output.size(512));
        assertEquals("1kB", Output.size(1000));
        assertEquals("1.23MB", Output.size(1_234_567));
        assertEquals("4.26MB", Output.size(4_261_000));
        assertEquals("1GB", Output.size(999_999_999), "rounding up to 1000 moves to the next unit");
        assertEquals("1MB", Output.size(999_999));
        assertEquals("999kB", Output.size(999_499));
    }

    @Test
    void shortIdsDropTheDigestAlgorithm() {
        assertEquals("0123456789abc", Output.shortId("sha256:0123456789abcdef"));
        assertEquals("0123456789abc", Output.shortId("0123456789abcdef"));
        assertEquals("short", Output.shortId("short"));
    }

    @Test
    void jsonHasEveryFieldAndYamlHasNoRawControlCharacters() throws Exception {
        StringWriter json = new StringWriter();
        Output.print(new PrintWriter(json), Output.Format.JSON, VersionResponse.newBuilder().setRuntimeName("x").build());
        JsonNode j = new ObjectMapper().readTree(json.toString());
        assertEquals("", j.get("version").asText(), "a default value is printed too");
        assertEquals("x", j.get("runtimeName").asText());

        StringWriter yaml = new StringWriter();
        Output.print(new PrintWriter(yaml), Output.Format.YAML, VersionResponse.newBuilder().setRuntimeName("evil\u001b[2J\u0007").build());
        assertFalse(yaml.toString().chars().anyMatch(c -> c == 0x1b || c == 0x07), yaml.toString());
        assertEquals("evil\u001b[2J\u0007", new ObjectMapper(new YAMLFactory()).readTree(yaml.toString()).get("runtimeName").asText(),
                "escaped, not lost");
        assertThrows(IllegalArgumentException.class, () -> Output.print(new PrintWriter(new StringWriter()), Output.Format.TABLE, j));
    }

    @Test
    void formatsParseInAnyCaseAndRefuseTheRest() {
        assertEquals(Output.Format.JSON, Output.Format.parse("JSON"));
        assertEquals(Output.Format.YAML, Output.Format.parse("yml"));
        assertEquals(Output.Format.TABLE, Output.Format.parse("table"));
        ClientException e = assertThrows(ClientException.class, () -> Output.Format.parse("xml"));
        assertEquals(ExitCodes.USAGE, e.exitCode());
        assertTrue(e.getMessage().contains("xml"));
    }
}
