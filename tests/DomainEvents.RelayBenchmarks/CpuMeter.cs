using System.Diagnostics;
using System.Globalization;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// CPU used during a phase, from /proc: the whole machine, this process, the broker (beam.smp), PostgreSQL (every
/// postgres process) and the rest ("other": other people's work on the machine, the child writer process, the kernel).
/// On 2 cores 200% is everything.
/// </summary>
public sealed class CpuMeter
{
    private const double TicksPerSecond = 100.0; // USER_HZ on Linux

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly (long Busy, long Total) _machine;
    private readonly double _self;
    private readonly Dictionary<int, (string Name, long Ticks)> _processes;
    private readonly long _jitMethods = System.Runtime.JitInfo.GetCompiledMethodCount();
    private readonly TimeSpan _jitTime = System.Runtime.JitInfo.GetCompilationTime();

    private CpuMeter()
    {
        _machine = ReadMachine();
        _self = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        _processes = ReadProcesses();
    }

    public static CpuMeter Start() => new();

    public CpuUsage Stop()
    {
        var elapsed = _clock.Elapsed.TotalSeconds;
        var machine = ReadMachine();
        var self = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - _self;
        var after = ReadProcesses();
        double Of(string name) => after.Where(p => p.Value.Name == name)
            .Sum(p => (p.Value.Ticks - (_processes.TryGetValue(p.Key, out var before) && before.Name == name ? before.Ticks : 0)) / TicksPerSecond);

        var busyTicks = machine.Busy - _machine.Busy;
        var totalTicks = Math.Max(1, machine.Total - _machine.Total);
        var cores = Environment.ProcessorCount;
        var machinePercent = 100.0 * cores * busyTicks / totalTicks;
        var broker = Of("beam.smp");
        var postgres = Of("postgres");
        var percent = (double seconds) => elapsed > 0 ? 100.0 * seconds / elapsed : 0;
        return new CpuUsage(
            Math.Round(machinePercent, 0),
            Math.Round(percent(self), 0),
            Math.Round(percent(broker), 0),
            Math.Round(percent(postgres), 0),
            Math.Round(Math.Max(0, machinePercent - percent(self) - percent(broker) - percent(postgres)), 0),
            System.Runtime.JitInfo.GetCompiledMethodCount() - _jitMethods,
            Math.Round(percent((System.Runtime.JitInfo.GetCompilationTime() - _jitTime).TotalSeconds), 1));
    }

    private static (long Busy, long Total) ReadMachine()
    {
        try
        {
            var line = File.ReadLines("/proc/stat").First();
            var values = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            var idle = values[3] + values[4];
            var total = values.Take(8).Sum();
            return (total - idle, total);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return (0, 0);
        }
    }

    private static Dictionary<int, (string Name, long Ticks)> ReadProcesses()
    {
        var result = new Dictionary<int, (string, long)>();
        if (!Directory.Exists("/proc"))
        {
            return result;
        }

        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                var open = stat.IndexOf('(', StringComparison.Ordinal);
                var close = stat.LastIndexOf(')');
                var name = stat[(open + 1)..close];
                if (name is not ("beam.smp" or "postgres"))
                {
                    continue;
                }

                var fields = stat[(close + 2)..].Split(' ');
                // After "pid (comm) ": state is field 3, utime field 14, stime field 15.
                var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                result[pid] = (name, ticks);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException or IndexOutOfRangeException)
            {
                // The process ended while we looked.
            }
        }

        return result;
    }
}

/// <summary>
/// CPU in percent of one core over a phase (2 cores: 200% is the whole machine), and the methods the process that
/// measured compiled meanwhile with the time its JIT took, in percent of one core: a phase that still compiles much is
/// measuring start-up, not the steady state of a service.
/// </summary>
public sealed record CpuUsage(double Machine, double Benchmark, double Broker, double Postgres, double Other, long JitMethods = 0, double Jit = 0)
{
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"machine {Machine}% (benchmark {Benchmark}%, broker {Broker}%, postgres {Postgres}%, other {Other}%; JIT {JitMethods} methods, {Jit}%)");
}
