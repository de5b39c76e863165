package dev.berth.agent.server;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/**
 * The summary API's document ({@code stats/v1alpha1} of the kubelet), as metrics-server and
 * {@code kubectl top} read it: the node's usage and each pod's, with its containers, network,
 * volumes and ephemeral storage. Absent figures are left out of the JSON; times are RFC 3339
 * in UTC to the second, as the API's times are.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record StatsSummary(Node node, List<PodStats> pods) {

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Node(String nodeName, List<ContainerStats> systemContainers, String startTime, Cpu cpu, Memory memory,
                       Network network, Fs fs, Runtime runtime, Rlimit rlimit) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Cpu(String time, Long usageNanoCores, Long usageCoreNanoSeconds) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Memory(String time, Long availableBytes, Long usageBytes, Long workingSetBytes, Long rssBytes, Long pageFaults,
                         Long majorPageFaults) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Interface(String name, Long rxBytes, Long rxErrors, Long txBytes, Long txErrors) {
    }

    /** The default interface's counters at the top, every interface in {@code interfaces}. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Network(String time, String name, Long rxBytes, Long rxErrors, Long txBytes, Long txErrors, List<Interface> interfaces) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Fs(String time, Long availableBytes, Long capacityBytes, Long usedBytes, Long inodesFree, Long inodes, Long inodesUsed) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Runtime(Fs imageFs, Fs containerFs) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Rlimit(String time, Long maxpid, Long curproc) {
    }

    public record PodReference(String name, String namespace, String uid) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record PodStats(PodReference podRef, String startTime, List<ContainerStats> containers, Cpu cpu, Memory memory,
                           Network network, List<Volume> volume, @JsonProperty("ephemeral-storage") Fs ephemeralStorage,
                           @JsonProperty("process_stats") Process processStats) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record ContainerStats(String name, String startTime, Cpu cpu, Memory memory, Fs rootfs, Fs logs) {
    }

    /** A volume's usage: the filesystem figures and the volume's name side by side, as the kubelet's JSON has them. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Volume(String time, Long availableBytes, Long capacityBytes, Long usedBytes, Long inodesFree, Long inodes,
                         Long inodesUsed, String name) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Process(@JsonProperty("process_count") Long processCount) {
    }
}
