package dev.berth.podsandbox.archfixture;

import dev.berth.cri.v1.VersionRequest;

/** A deliberate violation for the rules' own test: the runtime's domain holding a CRI message. */
public final class DomainSpeakingCri {
    private DomainSpeakingCri() {
    }

    public static String version(VersionRequest request) {
        return request.getVersion();
    }
}
