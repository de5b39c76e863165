package dev.berth.streaming;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class StreamTokensTest {
    final MutableClock clock = new MutableClock();
    final StreamTokens tokens = new StreamTokens(Duration.ofMinutes(1), clock);
    final StreamRequest.PortForward pf = new StreamRequest.PortForward("sb", "/run/netns/x", List.of());

    @Test
    void aTokenIsGoodOnceForItsKindWithinItsTimeToLive() {
        String t = tokens.issue(pf).orElseThrow();
        assertEquals(32, t.length());
        assertNotEquals(t, tokens.issue(pf).orElseThrow(), "tokens are random");
        assertEquals(Optional.empty(), tokens.take("exec", t), "another kind does not consume it");
        clock.advance(Duration.ofSeconds(59));
        assertEquals(Optional.of(pf), tokens.take("portforward", t));
        assertEquals(Optional.empty(), tokens.take("portforward", t), "used");
    }

    @Test
    void anExpiredTokenIsRefusedAndExpiredOnesAreDroppedUnderPressure() {
        String t = tokens.issue(pf).orElseThrow();
        clock.advance(Duration.ofMinutes(1));
        assertEquals(Optional.empty(), tokens.take("portforward", t));
        for (int i = 0; i < StreamTokens.MAX_OUTSTANDING; i++) {
            tokens.issue(pf).orElseThrow();
        }
        assertEquals(Optional.empty(), tokens.issue(pf), "too many outstanding");
        clock.advance(Duration.ofMinutes(2));
        assertTrue(tokens.issue(pf).isPresent(), "expired tokens make room");
        assertEquals(1, tokens.outstanding());
    }
}
