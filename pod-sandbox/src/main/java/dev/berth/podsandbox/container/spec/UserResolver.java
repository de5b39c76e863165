package dev.berth.podsandbox.container.spec;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Resolves who a container runs as: CRI run_as_user / run_as_username / run_as_group, else
 * the image's USER, with names looked up in the root filesystem's /etc/passwd and /etc/group;
 * additional groups are the primary gid and the CRI supplemental groups, plus, under the MERGE
 * policy (the default), the groups of the image's /etc/group that list the user. Under STRICT
 * the image's /etc/group adds nothing (it still names the group of an image USER "u:group").
 */
public final class UserResolver {
    /** The resolved identity. {@code additionalGids} starts with the primary gid. */
    public record Identity(long uid, long gid, List<Long> additionalGids, String username) {
    }

    record Passwd(String name, long uid, long gid, String home) {
    }

    record Group(String name, long gid, List<String> members) {
    }

    /** The largest /etc/passwd or /etc/group read from an image (tens of thousands of accounts). */
    static final int MAX_ACCOUNT_FILE = 4 << 20;

    private final List<Passwd> passwd;
    private final List<Group> groups;

    public UserResolver(List<String> passwdLines, List<String> groupLines) {
        this.passwd = parsePasswd(passwdLines);
        this.groups = parseGroups(groupLines);
    }

    /** Reads /etc/passwd and /etc/group of a root filesystem (absent files are empty). */
    public static UserResolver forRootfs(Path rootfs) {
        return new UserResolver(readLines(rootfs, "/etc/passwd"), readLines(rootfs, "/etc/group"));
    }

    /**
     * An image's account file, read only when it is a regular file of at most
     * {@link #MAX_ACCOUNT_FILE} bytes: the image decides what lies there, and a FIFO would block
     * the read forever and a device ({@code /dev/zero}) would never end.
     */
    private static List<String> readLines(Path rootfs, String inside) {
        try {
            Path file = RootfsPaths.resolve(rootfs, inside);
            BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!attrs.isRegularFile()) {
                throw BerthException.invalidArgument("%s of the container image is not a regular file", inside);
            }
            if (attrs.size() > MAX_ACCOUNT_FILE) {
                throw BerthException.invalidArgument("%s of the container image is larger than %d bytes", inside,
                        MAX_ACCOUNT_FILE);
            }
            byte[] bytes;
            try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
                bytes = in.readNBytes(MAX_ACCOUNT_FILE + 1);
            }
            if (bytes.length > MAX_ACCOUNT_FILE) {
                throw BerthException.invalidArgument("%s of the container image is larger than %d bytes", inside,
                        MAX_ACCOUNT_FILE);
            }
            return new String(bytes, StandardCharsets.UTF_8).lines().toList();
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            throw BerthException.invalidArgument("cannot read %s of the container image: %s", inside, e.getMessage());
        }
    }

    public Identity resolve(ContainerConfig.Security sc, String imageUser) {
        Long uid = sc.runAsUser();
        String username = sc.runAsUsername();
        Long group = sc.runAsGroup();
        long resolvedUid;
        long resolvedGid;
        String name;
        if (uid != null) {
            if (uid < 0) {
                throw BerthException.invalidArgument("run_as_user %d is negative", uid);
            }
            Optional<Passwd> p = byUid(uid);
            resolvedUid = uid;
            resolvedGid = p.map(Passwd::gid).orElse(0L);
            name = p.map(Passwd::name).orElse(null);
        } else if (!username.isEmpty()) {
            Passwd p = byName(username).orElseThrow(() -> BerthException.invalidArgument(
                    "user %s (run_as_username) not found in the image's /etc/passwd", username));
            resolvedUid = p.uid();
            resolvedGid = p.gid();
            name = p.name();
        } else {
            if (group != null) {
                throw BerthException.invalidArgument(
                        "run_as_group is set without run_as_user or run_as_username");
            }
            return fromImageUser(imageUser, sc.supplementalGroups(), sc.supplementalGroupsPolicy());
        }
        if (group != null) {
            if (group < 0) {
                throw BerthException.invalidArgument("run_as_group %d is negative", group);
            }
            resolvedGid = group;
        }
        return new Identity(resolvedUid, resolvedGid,
                additional(resolvedGid, name, sc.supplementalGroups(), sc.supplementalGroupsPolicy()), name);
    }

    private Identity fromImageUser(String imageUser, List<Long> supplemental,
            ContainerConfig.SupplementalGroupsPolicy policy) {
        if (imageUser.isEmpty()) {
            Optional<Passwd> root = byUid(0);
            String name = root.map(Passwd::name).orElse(null);
            long gid = root.map(Passwd::gid).orElse(0L);
            return new Identity(0, gid, additional(gid, name, supplemental, policy), name);
        }
        String userPart = imageUser;
        String groupPart = null;
        int colon = imageUser.indexOf(':');
        if (colon >= 0) {
            userPart = imageUser.substring(0, colon);
            groupPart = imageUser.substring(colon + 1);
        }
        long uid;
        long gid;
        String name;
        Long numericUid = numeric(userPart);
        if (numericUid != null) {
            Optional<Passwd> p = byUid(numericUid);
            uid = numericUid;
            gid = p.map(Passwd::gid).orElse(0L);
            name = p.map(Passwd::name).orElse(null);
        } else {
            String wanted = userPart;
            Passwd p = byName(userPart).orElseThrow(() -> BerthException.invalidArgument(
                    "image user %s not found in the image's /etc/passwd", wanted));
            uid = p.uid();
            gid = p.gid();
            name = p.name();
        }
        if (groupPart != null && !groupPart.isEmpty()) {
            Long numericGid = numeric(groupPart);
            if (numericGid != null) {
                gid = numericGid;
            } else {
                String wanted = groupPart;
                gid = groups.stream().filter(g -> g.name().equals(wanted)).findFirst()
                        .orElseThrow(() -> BerthException.invalidArgument(
                                "image group %s not found in the image's /etc/group", wanted))
                        .gid();
            }
        }
        return new Identity(uid, gid, additional(gid, name, supplemental, policy), name);
    }

    private List<Long> additional(long gid, String username, List<Long> supplemental,
            ContainerConfig.SupplementalGroupsPolicy policy) {
        Set<Long> out = new LinkedHashSet<>();
        out.add(gid);
        if (username != null && policy != ContainerConfig.SupplementalGroupsPolicy.STRICT) {
            for (Group g : groups) {
                if (g.members().contains(username)) {
                    out.add(g.gid());
                }
            }
        }
        for (Long s : supplemental) {
            if (s < 0) {
                throw BerthException.invalidArgument("supplemental group %d is negative", s);
            }
            out.add(s);
        }
        return new ArrayList<>(out);
    }

    private Optional<Passwd> byUid(long uid) {
        return passwd.stream().filter(p -> p.uid() == uid).findFirst();
    }

    private Optional<Passwd> byName(String name) {
        return passwd.stream().filter(p -> p.name().equals(name)).findFirst();
    }

    private static Long numeric(String s) {
        if (s.isEmpty() || !s.chars().allMatch(Character::isDigit)) {
            return null;
        }
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw BerthException.invalidArgument("id %s is out of range", s);
        }
    }

    private static List<Passwd> parsePasswd(List<String> lines) {
        List<Passwd> out = new ArrayList<>();
        for (String line : lines) {
            String[] f = line.split(":", -1);
            if (line.startsWith("#") || f.length < 4) {
                continue;
            }
            Long uid = numericOrNull(f[2]);
            Long gid = numericOrNull(f[3]);
            if (uid != null && gid != null) {
                out.add(new Passwd(f[0], uid, gid, f.length > 5 ? f[5] : ""));
            }
        }
        return out;
    }

    private static List<Group> parseGroups(List<String> lines) {
        List<Group> out = new ArrayList<>();
        for (String line : lines) {
            String[] f = line.split(":", -1);
            if (line.startsWith("#") || f.length < 3) {
                continue;
            }
            Long gid = numericOrNull(f[2]);
            if (gid == null) {
                continue;
            }
            List<String> members = new ArrayList<>();
            if (f.length > 3 && !f[3].isBlank()) {
                for (String m : f[3].split(",")) {
                    members.add(m.trim());
                }
            }
            out.add(new Group(f[0], gid, members));
        }
        return out;
    }

    private static Long numericOrNull(String s) {
        try {
            return Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            return null;
        }
    }
}
