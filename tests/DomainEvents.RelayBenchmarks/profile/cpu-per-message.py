"""CPU per message of each round a profile.sh run measured, by process: the benchmark, PostgreSQL, the rest.

Each round line of run.log ("round N NAME RATE msg/s (SECONDS s; ...") gives the round's end (its stamp), length and
rate. The samples inside the round (less half a second at each end) are counted by process; at 499 samples a second
on each core one sample stands for about 2 ms of CPU.
"""
import collections
import re
import sys

out = sys.argv[1]
rounds = []
for line in open(f"{out}/run.log"):
    m = re.match(r"([\d.]+)\s+round (\d+) (\S+)\s+([\d,]+) msg/s\s+\(([\d.]+) s", line)
    if m:
        rounds.append((m.group(3), int(m.group(2)), float(m.group(1)), int(m.group(4).replace(",", "")), float(m.group(5))))

header = re.compile(r"^(\S.*?)\s+(\d+)/(\d+)\s+([\d.]+):")
samples = []
for line in open(f"{out}/perf.txt", errors="replace"):
    if line and not line[0].isspace():
        m = header.match(line)
        if m:
            samples.append((float(m.group(4)), m.group(1).strip(), int(m.group(2))))

# The benchmark is the process whose threads are named by .NET (".NET TP Worker", ...) or after the program.
dotnet = collections.Counter(p for _, c, p in samples if c.startswith(".NET") or c.startswith("DomainEvents"))
benchmark = dotnet.most_common(1)[0][0]
period_us = 1_000_000 / 499

print(f"{'round':24s} {'msg/s':>7s} {'benchmark':>10s} {'postgres':>9s} {'other':>7s} {'all':>7s}   (µs of CPU per message)")
for name, number, end, rate, seconds in rounds:
    lo, hi = end - seconds + 0.5, end - 0.5
    counts = collections.Counter()
    for t, comm, pid in samples:
        if lo <= t < hi and comm != "swapper":
            counts["benchmark" if pid == benchmark else "postgres" if comm.startswith("postgres") else "other"] += 1
    per = {k: v * period_us / (hi - lo) / rate for k, v in counts.items()}
    total = sum(per.values())
    print(f"{name + ' ' + str(number):24s} {rate:7d} {per.get('benchmark', 0):10.0f} {per.get('postgres', 0):9.0f} {per.get('other', 0):7.0f} {total:7.0f}")
