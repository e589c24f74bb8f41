#!/bin/bash
# Samples every process on the machine with perf while the relay benchmarks run, then splits the CPU time of each
# measured round between the benchmark process, PostgreSQL and the rest (the broker), per message.
#   bash tests/DomainEvents.RelayBenchmarks/profile/profile.sh OUTDIR -- --only 3 --rounds 1
# Needs perf (Debian's linux-perf), root (or perf_event_paranoid <= 0), the servers (build/servers.sh start) and a
# Release build of the benchmark program. OUTDIR gets perf.data, perf.txt (perf script) and run.log (the program's
# output, each line stamped with CLOCK_MONOTONIC, the clock perf stamps its samples with here).
# With SYMBOLS=1 the .NET runtime writes /tmp/perf-PID.map and compiles everything with the JIT, so that perf names
# managed frames (the run is then not the shipped configuration: compare its rounds with each other only).
set -euo pipefail
out=$1; shift
[ "${1:-}" = "--" ] && shift
root=$(cd "$(dirname "$0")/../../.." && pwd)
mkdir -p "$out"
source "$root/artifacts/servers/env.sh"
if [ "${SYMBOLS:-0}" = 1 ]; then
  export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 DOTNET_ReadyToRun=0
fi
perf record -F 499 -a -g -o "$out/perf.data" > "$out/perf-record.log" 2>&1 &
recorder=$!
sleep 1
"$root/tests/DomainEvents.RelayBenchmarks/bin/Release/net10.0/DomainEvents.RelayBenchmarks" "$@" 2>&1 \
  | python3 -u -c 'import sys, time
for line in sys.stdin: print("%.3f %s" % (time.clock_gettime(time.CLOCK_MONOTONIC), line), end="")' > "$out/run.log"
kill -INT "$recorder"
wait "$recorder" || true
perf script -i "$out/perf.data" -F comm,pid,tid,time,ip,sym,dso 2>/dev/null > "$out/perf.txt"
python3 "$root/tests/DomainEvents.RelayBenchmarks/profile/cpu-per-message.py" "$out"
