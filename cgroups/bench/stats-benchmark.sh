#!/usr/bin/env bash
# Builds the cgroups module and runs StatsBenchmark (full stats of 100 container cgroups) with
# JMH's allocation profiler, as root, on this host's cgroup layout. Extra arguments go to JMH,
# e.g. `cgroups/bench/stats-benchmark.sh -f 1 -i 3 -p containers=10`
# (given arguments replace the default iteration settings).
# In a cgroup v2 guest: ../shared/vm/run-in-cgroup2-vm.sh --timeout 600 -- cgroups/bench/stats-benchmark.sh --no-build
set -euo pipefail
cd "$(dirname "$0")/../.."
cp_file="$PWD/cgroups/target/bench-classpath.txt"
if [ "${1:-}" = "--no-build" ]; then
    shift
else
    mvn -B -ntp -q -pl cgroups -am test-compile dependency:build-classpath \
        -Dmdep.includeScope=test -Dmdep.outputFile="$cp_file" >&2
fi
cp="cgroups/target/test-classes:cgroups/target/classes:common/target/classes:$(cat "$cp_file")"
args=("$@")
if [ ${#args[@]} -eq 0 ]; then
    args=(-f 1 -wi 3 -w 2s -i 5 -r 2s)
fi
exec java -cp "$cp" org.openjdk.jmh.Main 'dev.berth.cgroups.bench.StatsBenchmark' -prof gc "${args[@]}"
