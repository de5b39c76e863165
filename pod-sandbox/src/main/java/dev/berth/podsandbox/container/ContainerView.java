package dev.berth.podsandbox.container;

import java.util.List;

/**
 * One container as ContainerStatus and ListContainers report it: its record, its image by the
 * name the kubelet knows (a tag, else the image id) and by reference (a repo digest, else the
 * image id), and the user its process runs as.
 *
 * @param user the user of the container's runtime spec; null in lists, and when the spec is
 *             gone (e.g. the run root was wiped) or unreadable
 */
public record ContainerView(ContainerRecord record, String image, String imageRef, User user) {

    /** The uid, gid and supplementary gids of a container's process. */
    public record User(long uid, long gid, List<Long> additionalGids) {
        public User {
            additionalGids = List.copyOf(additionalGids);
        }
    }
}
