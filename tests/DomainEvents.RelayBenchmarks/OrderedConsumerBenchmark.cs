using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// Measurement 7: a queue pre-loaded with N messages on 1,000 partition keys (each key's messages in sequence, keys at
/// random), drained by a consumer whose work takes about a millisecond (an awaited I/O, as a database call would be), 8 at
/// once: with KeepOrder and Parallelism 8 (each key's messages one after another, in queue order), and with order off
/// (KeepOrder false, the same 8 at once). The order is checked, not assumed: a break is a message of a key that started
/// before the previous message of its key ended. Rounds in ABBA order.
/// </summary>
public static class OrderedConsumerBenchmark
{
    private const int Keys = 1_000;
    private const int Parallelism = 8;

    public static async Task RunAsync(BenchEnvironment environment, Sizes sizes, BenchResults results)
    {
        var exchange = environment.Exchange("ordered");
        var queues = new Dictionary<bool, string>
        {
            [true] = environment.Queue("ordered-on", massTransitEndpoint: true),
            [false] = environment.Queue("ordered-off", massTransitEndpoint: true),
        };
        await using var connection = await environment.ConnectRabbitAsync("ordered-preload");
        await using var channel = await connection.CreateChannelAsync(Rabbit.Confirms);
        var plan = new List<(bool Ordered, int Round, int Count)> { (true, 0, Math.Min(2_000, sizes.OrderedMessages)), (false, 0, Math.Min(2_000, sizes.OrderedMessages)) };
        foreach (var (ordered, round) in new[] { (true, 1), (false, 1), (false, 2), (true, 2) })
        {
            plan.Add((ordered, round, sizes.OrderedMessages));
        }

        foreach (var (ordered, round, count) in plan)
        {
            var run = await DrainAsync(environment, channel, connection, exchange, queues[ordered], ordered, round, count, results);
            if (round > 0)
            {
                results.Ordered.Add(run);
                Console.WriteLine($"  round {round} {run.Name,-10} {run.MessagesPerSecond,8:N0} msg/s  ({run.Seconds:N2} s; {run.OrderBreaks} order breaks, at most {run.PeakConcurrency} at once; CPU {run.Cpu})");
            }
        }
    }

    private static async Task<ThroughputRun> DrainAsync(
        BenchEnvironment environment, RabbitMQ.Client.IChannel channel, RabbitMQ.Client.IConnection connection, string exchange, string queue, bool ordered, int round, int count, BenchResults results)
    {
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        var keys = Enumerable.Range(0, Keys).Select(_ => Guid.CreateVersion7()).ToArray();
        var random = new Random(round * 2 + (ordered ? 1 : 0));
        var assignment = Enumerable.Range(0, count).Select(_ => keys[random.Next(Keys)]).ToArray();
        var sequences = new Dictionary<Guid, int>();
        var occurredAt = DateTime.UtcNow;
        await Rabbit.PublishAsync(channel, count, 100, i =>
        {
            var order = assignment[i];
            var sequence = sequences[order] = sequences.GetValueOrDefault(order) + 1;
            return RelayLikeMessage.ToQueue(queue, exchange, Payloads.Create(order, sequence), occurredAt);
        });
        var depth = await Rabbit.WaitForDepthAsync(connection, queue, count, TimeSpan.FromSeconds(30));
        if (depth != count)
        {
            throw new InvalidOperationException($"The queue holds {depth} messages instead of {count} before the drain.");
        }

        var log = new OrderLog(count);
        CpuUsage usage;
        await using (var host = await BenchHost.StartAsync(new HostSpec
                     {
                         Environment = environment,
                         Exchange = exchange,
                         Services = s => s.AddSingleton(log),
                         Consumers = x => x.AddIntegrationEventConsumer<WorkConsumer>(c =>
                         {
                             c.Bind(exchange, "#");
                             c.QueueName = queue;
                             c.KeepOrder = ordered;
                             c.Parallelism = Parallelism;
                         }),
                         // The same 8 at once and the same prefetch for both; the ordered endpoint sets its own to the same values.
                         ConfigureBus = (cfg, _) =>
                         {
                             cfg.PrefetchCount = 4 * Parallelism;
                             cfg.ConcurrentMessageLimit = Parallelism;
                         },
                     }))
        {
            var cpu = CpuMeter.Start();
            await log.Done.WaitAsync(TimeSpan.FromMinutes(5));
            usage = cpu.Stop();
        }

        var (breaks, peak) = log.Check();
        if (ordered && breaks > 0)
        {
            results.Errors.Add($"Ordered consumer, round {round}: {breaks} per-key order breaks.");
        }

        return new ThroughputRun
        {
            Name = ordered ? "ordered" : "order-off",
            Round = round,
            Messages = count - 1,
            Seconds = Stats.Milliseconds(log.First, log.Last) / 1000,
            Cpu = usage,
            OrderBreaks = breaks,
            PeakConcurrency = peak,
        };
    }

    /// <summary>When each message of each key started and ended, and how many ran at once.</summary>
    public sealed class OrderLog(int expected)
    {
        private readonly ConcurrentQueue<(Guid Order, int Sequence, long Started, long Ended)> _ended = new();
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _running;
        private int _peak;
        private long _first;
        private long _last;

        public Task Done => _done.Task;

        public long First => Interlocked.Read(ref _first);

        public long Last => Interlocked.Read(ref _last);

        public long Start()
        {
            var now = Stopwatch.GetTimestamp();
            Interlocked.CompareExchange(ref _first, now, 0);
            var running = Interlocked.Increment(ref _running);
            int peak;
            while (running > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, running, peak) != peak)
            {
            }

            return now;
        }

        public void End(Guid order, int sequence, long started)
        {
            Interlocked.Decrement(ref _running);
            var now = Stopwatch.GetTimestamp();
            _ended.Enqueue((order, sequence, started, now));
            if (_ended.Count >= expected)
            {
                Interlocked.Exchange(ref _last, now);
                _done.TrySetResult();
            }
        }

        public (int Breaks, int Peak) Check()
        {
            var breaks = 0;
            foreach (var key in _ended.GroupBy(e => e.Order))
            {
                var bySequence = key.OrderBy(e => e.Sequence).ToList();
                for (var i = 1; i < bySequence.Count; i++)
                {
                    breaks += bySequence[i].Started < bySequence[i - 1].Ended ? 1 : 0;
                }
            }

            return (breaks, Volatile.Read(ref _peak));
        }
    }

    public sealed class WorkConsumer(OrderLog log) : IConsumer<OrderPlaced>
    {
        public async Task Consume(ConsumeContext<OrderPlaced> context)
        {
            var started = log.Start();
            try
            {
                await Task.Delay(1, context.CancellationToken);
            }
            finally
            {
                log.End(context.Message.OrderId, context.Message.Sequence, started);
            }
        }
    }
}
