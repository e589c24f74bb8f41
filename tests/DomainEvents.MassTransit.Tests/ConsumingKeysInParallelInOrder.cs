using System.Collections.Concurrent;
using System.Text;
using DomainEvents.MassTransit.Tests.Model;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// With KeepOrder and Parallelism 8, an endpoint handles messages of different partition keys at once, and the messages
/// of each key one after another in the order they were queued, on the real broker.
/// </summary>
public sealed class ConsumingKeysInParallelInOrder : RabbitMqFixture
{
    private const int Keys = 10;
    private const int PerKey = 60;

    [Test]
    public async Task Messages_of_one_key_run_one_at_a_time_in_queue_order_while_keys_run_in_parallel()
    {
        var (breaks, overlaps, peak) = await RunAsync(keepOrder: true);

        breaks.Should().Be(0, "each key's messages start in queue order, each after the previous one ended");
        overlaps.Should().Be(0, "no two messages of one key run at once");
        peak.Should().BeGreaterThan(1, "different keys ran at the same time");
    }

    [Test]
    public async Task Without_the_order_the_same_endpoint_breaks_it_which_is_what_the_first_test_would_catch()
    {
        var (breaks, overlaps, peak) = await RunAsync(keepOrder: false);

        (breaks + overlaps).Should().BeGreaterThan(0, "eight messages at once, with varying work, finish out of order");
        peak.Should().BeGreaterThan(1);
    }

    private async Task<(int Breaks, int Overlaps, int Peak)> RunAsync(bool keepOrder)
    {
        var log = new WorkLog();
        await StartAsync(relay: false, o =>
        {
            o.ConfigureServices = s => s.AddSingleton(log);

            // The same 8 at once and the same prefetch with and without the order: only the order filter differs.
            o.ConfigureBus = cfg =>
            {
                cfg.ConcurrentMessageLimit = 8;
                cfg.PrefetchCount = 32;
            };
            o.Consumers.Add((typeof(SlowOrdersConsumer), c =>
            {
                c.Bind(Exchange, "order.*");
                c.QueueName = Queue("slow-orders");
                c.KeepOrder = keepOrder;
                c.Parallelism = 8;
            }));
        });
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        // Keys interleaved at random, each key's messages in sequence order: messages of one key are often close in the queue.
        var orders = Enumerable.Range(0, Keys).Select(_ => Guid.NewGuid()).ToArray();
        var next = orders.ToDictionary(o => o, _ => 1);
        var random = new Random(7);
        while (next.Count > 0)
        {
            var order = next.Keys.ElementAt(random.Next(next.Count));
            var sequence = next[order];
            if (sequence == PerKey)
            {
                next.Remove(order);
            }
            else
            {
                next[order] = sequence + 1;
            }

            {
                var properties = new BasicProperties
                {
                    MessageId = Guid.NewGuid().ToString(),
                    ContentType = "application/json",
                    Persistent = true,
                    Headers = new Dictionary<string, object?> { ["de-message-type"] = "order.placed", ["de-version"] = "1", ["de-partition-key"] = $"Order/{order}" },
                };
                await channel.BasicPublishAsync(Exchange, "order.placed", mandatory: false, properties, Encoding.UTF8.GetBytes($$"""{"orderId":"{{order}}","sequence":{{sequence}}}"""));
            }
        }

        var until = DateTime.UtcNow.AddSeconds(90);
        while (log.Ended.Count < Keys * PerKey && DateTime.UtcNow < until)
        {
            await Task.Delay(100);
        }

        log.Ended.Should().HaveCount(Keys * PerKey, "every message is handled");
        return log.Check();
    }

    /// <summary>What the consumer did: when each message of each key started and ended, and how many ran at once.</summary>
    public sealed class WorkLog
    {
        private int _running;
        private int _peak;

        public ConcurrentQueue<(Guid Order, int Sequence, long Started, long Ended)> Ended { get; } = new();

        public ConcurrentDictionary<Guid, int> RunningPerKey { get; } = new();

        public int Overlaps;

        public long Start(Guid order)
        {
            if (RunningPerKey.AddOrUpdate(order, 1, (_, n) => n + 1) > 1)
            {
                Interlocked.Increment(ref Overlaps);
            }

            var now = Interlocked.Increment(ref _running);
            int peak;
            while (now > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak)
            {
            }

            return System.Diagnostics.Stopwatch.GetTimestamp();
        }

        public void End(Guid order, int sequence, long started)
        {
            RunningPerKey.AddOrUpdate(order, 0, (_, n) => n - 1);
            Interlocked.Decrement(ref _running);
            Ended.Enqueue((order, sequence, started, System.Diagnostics.Stopwatch.GetTimestamp()));
        }

        /// <summary>A break: a message of a key that started before an earlier message of its key, or before that one ended.</summary>
        public (int Breaks, int Overlaps, int Peak) Check()
        {
            var breaks = 0;
            foreach (var key in Ended.GroupBy(e => e.Order))
            {
                var bySequence = key.OrderBy(e => e.Sequence).ToList();
                for (var i = 1; i < bySequence.Count; i++)
                {
                    if (bySequence[i].Started < bySequence[i - 1].Ended)
                    {
                        breaks++;
                    }
                }
            }

            return (breaks, Overlaps, Volatile.Read(ref _peak));
        }
    }

    public sealed class SlowOrdersConsumer(WorkLog log) : IConsumer<OrderPlaced>
    {
        public async Task Consume(ConsumeContext<OrderPlaced> context)
        {
            var started = log.Start(context.Message.OrderId);
            try
            {
                // Work of varying length, so that messages started together end out of order.
                await Task.Delay(Random.Shared.Next(0, 6));
            }
            finally
            {
                log.End(context.Message.OrderId, context.Message.Sequence, started);
            }
        }
    }
}
