package dev.berth.agent.server;

import java.util.List;
import java.util.Map;

/** Who made a request to the HTTP API, as an authenticator found them (the user info of a SubjectAccessReview). */
public record User(String name, String uid, List<String> groups, Map<String, List<String>> extra) {
    public static final User ANONYMOUS = new User("system:anonymous", "", List.of("system:unauthenticated"), Map.of());

    public User {
        uid = uid == null ? "" : uid;
        groups = groups == null ? List.of() : List.copyOf(groups);
        extra = extra == null ? Map.of() : Map.copyOf(extra);
    }
}
