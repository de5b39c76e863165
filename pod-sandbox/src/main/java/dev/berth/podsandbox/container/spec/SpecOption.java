package dev.berth.podsandbox.container.spec;

/**
 * One composable step of building a container's runtime spec ("with mounts", "with
 * capabilities", ...). Options are applied in order; a later one may refine an earlier one's
 * work. They throw {@link dev.berth.common.BerthException} for input they refuse.
 */
@FunctionalInterface
public interface SpecOption {
    void apply(OciSpec spec);
}
