using DomainEvents.EntityFrameworkCore.Relay;
using RabbitMQ.Client;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// What the relay measurements share: a durable topic exchange with a durable queue bound to it with '#' (nothing
/// consumes it; it is checked and purged after each drain), partition keys, a relay host on the run's database with
/// the measurement's batch and in-flight settings, and the trace of the relay's SQL.
/// </summary>
public sealed class RelayRig : IAsyncDisposable
{
    private RelayRig(string exchange, string sink, IConnection admin, string[] keys, BenchHost host, RelayStatementTrace trace)
    {
        Exchange = exchange;
        Sink = sink;
        Admin = admin;
        Keys = keys;
        Host = host;
        Trace = trace;
    }

    public string Exchange { get; }

    public string Sink { get; }

    public IConnection Admin { get; }

    public string[] Keys { get; }

    public BenchHost Host { get; }

    public RelayStatementTrace Trace { get; }

    public static async Task<RelayRig> StartAsync(BenchEnvironment environment, Sizes sizes, string purpose, Action<OutboxRelayOptions>? configureRelay = null)
    {
        var exchange = environment.Exchange(purpose);
        var sink = environment.Queue($"{purpose}-sink");
        var admin = await environment.ConnectRabbitAsync($"{purpose}-admin");
        await using (var channel = await admin.CreateChannelAsync())
        {
            // As MassTransit declares exchanges: durable topic.
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Topic, durable: true, autoDelete: false);
            await channel.QueueDeclareAsync(sink, durable: true, exclusive: false, autoDelete: false);
            await channel.QueueBindAsync(sink, exchange, "#");
        }

        var keys = Enumerable.Range(0, sizes.PartitionKeys).Select(_ => $"Order/{Guid.CreateVersion7()}").ToArray();
        var host = await BenchHost.StartAsync(new HostSpec
        {
            Environment = environment,
            Exchange = exchange,
            Outbox = true,
            Relay = true,
            // Backlogs are committed with NOTIFY in one transaction, so the relay starts on them at once.
            Notifications = true,
            ConfigureRelay = r =>
            {
                r.BatchSize = sizes.RelayBatchSize;
                r.MaxConcurrentSends = sizes.InFlight;
                configureRelay?.Invoke(r);
            },
        });
        return new RelayRig(exchange, sink, admin, keys, host, new RelayStatementTrace());
    }

    /// <summary>Writes a backlog of <paramref name="count"/> rows and times the relay until it has marked them all.</summary>
    public Task<(double Seconds, CpuUsage Cpu, RelayBreakdown Breakdown)> DrainAsync(BenchEnvironment environment, int count) =>
        ThroughputBenchmark.TimeRelayAsync(environment, Trace, Keys, Exchange, count);

    /// <summary>Checks that the bound queue received exactly <paramref name="expected"/> messages, then empties it.</summary>
    public Task CheckSinkAsync(int expected, BenchResults results) => ThroughputBenchmark.Drain(Admin, Sink, expected, results);

    public async ValueTask DisposeAsync()
    {
        Trace.Dispose();
        await Host.DisposeAsync();
        await Admin.DisposeAsync();
    }
}
