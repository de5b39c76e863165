package dev.berth.podsandbox.container.spec;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The OCI runtime specification (config.json, runtime-spec 1.x) as berth writes it: plain
 * mutable objects that {@link SpecOption}s fill in, serialised with the spec's field names.
 * Only the fields berth sets are modelled.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public final class OciSpec {
    public String ociVersion = "1.0.2";
    public Process process = new Process();
    public Root root = new Root();
    public String hostname;
    public List<Mount> mounts = new ArrayList<>();
    public Map<String, String> annotations = new LinkedHashMap<>();
    public Linux linux = new Linux();

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static final class Process {
        public boolean terminal;
        public User user = new User();
        public List<String> args = new ArrayList<>();
        public List<String> env = new ArrayList<>();
        public String cwd = "/";
        public Capabilities capabilities = new Capabilities();
        public List<Rlimit> rlimits;
        public boolean noNewPrivileges;
        public Integer oomScoreAdj;
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static final class User {
        public long uid;
        public long gid;
        public List<Long> additionalGids;
    }

    public static final class Capabilities {
        public List<String> bounding = new ArrayList<>();
        public List<String> effective = new ArrayList<>();
        public List<String> permitted = new ArrayList<>();
        public List<String> inheritable = new ArrayList<>();
        public List<String> ambient = new ArrayList<>();
    }

    public record Rlimit(String type, long hard, long soft) {
    }

    public static final class Root {
        public String path;
        public boolean readonly;
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Mount(String destination, String type, String source, List<String> options) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static final class Linux {
        public List<Namespace> namespaces = new ArrayList<>();
        public List<IdMapping> uidMappings;
        public List<IdMapping> gidMappings;
        public List<LinuxDevice> devices = new ArrayList<>();
        public String cgroupsPath;
        public Resources resources = new Resources();
        public Map<String, String> sysctl;
        public String rootfsPropagation;
        public Seccomp seccomp;
        public List<String> maskedPaths = new ArrayList<>();
        public List<String> readonlyPaths = new ArrayList<>();
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Namespace(String type, String path) {
    }

    /** A line of a user namespace's uid or gid map, as the OCI spec names its fields. */
    public record IdMapping(@JsonProperty("containerID") long containerId,
                            @JsonProperty("hostID") long hostId, long size) {
        static IdMapping of(ContainerConfig.IdMapping m) {
            return new IdMapping(m.containerId(), m.hostId(), m.length());
        }
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record LinuxDevice(String path, String type, long major, long minor, Integer fileMode, Long uid, Long gid) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record DeviceRule(boolean allow, String type, Long major, Long minor, String access) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static final class Resources {
        public List<DeviceRule> devices = new ArrayList<>();
        public Memory memory;
        public Cpu cpu;
        public List<HugepageLimit> hugepageLimits;
        public Map<String, String> unified;
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static final class Memory {
        public Long limit;
        public Long swap;
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static final class Cpu {
        public Long shares;
        public Long quota;
        public Long period;
        public String cpus;
        public String mems;
    }

    public record HugepageLimit(@JsonProperty("pageSize") String pageSize, long limit) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static final class Seccomp {
        public String defaultAction;
        public Integer defaultErrnoRet;
        public List<String> architectures = new ArrayList<>();
        public List<Syscall> syscalls = new ArrayList<>();
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Syscall(List<String> names, String action, Integer errnoRet, List<SyscallArg> args) {
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record SyscallArg(int index, long value, Long valueTwo, String op) {
    }
}
