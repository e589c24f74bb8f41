using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// Measurement 3: a queue pre-loaded with N messages (published raw, in the relay's envelope) is drained by an
/// integration event consumer that writes one row to its own database, with UseInbox&lt;BillingDbContext&gt;() and
/// without. KeepOrder = false on both; the same prefetch (and so the same concurrency) on both. The rate is taken
/// from the first message handled to the last, so bus start-up is not in it. A third variant, "row-in-save", is the
/// plainest way to write the same row: the consumer adds the inbox row to its own SaveChanges (one batch, no transaction
/// of its own, no duplicate check before the consumer runs, so not a usable inbox). It shows how much of the inbox's cost
/// is the row itself and how much is the way the inbox writes it.
/// </summary>
public static class InboxBenchmark
{
    public static async Task RunAsync(BenchEnvironment environment, Sizes sizes, BenchResults results)
    {
        var exchange = environment.Exchange("inbox");
        string[] variants = [NoInbox, Inbox, RowInSave];
        var queues = new Dictionary<string, string>
        {
            [NoInbox] = environment.Queue("receipts-plain", massTransitEndpoint: true),
            [Inbox] = environment.Queue("receipts-inbox", massTransitEndpoint: true),
            [RowInSave] = environment.Queue("receipts-row-in-save", massTransitEndpoint: true),
        };
        await using var connection = await environment.ConnectRabbitAsync("inbox-preload");
        await using var channel = await connection.CreateChannelAsync(Rabbit.Confirms);

        // Warm-up: each variant once, not recorded (JIT tiers, EF Core model, connection pool).
        var warmup = Math.Min(sizes.InboxMessages, 10_000);
        var plan = variants.Select(v => (Variant: v, Round: 0, Count: warmup)).ToList();
        for (var round = 1; round <= sizes.InboxRounds; round++)
        {
            // ABC, CBA: alternate the order, so drift over the run favours no variant.
            plan.AddRange((round % 2 == 1 ? variants : variants.Reverse()).Select(v => (v, round, sizes.InboxMessages)));
        }

        foreach (var (variant, round, count) in plan)
        {
            var run = await DrainAsync(environment, sizes, connection, channel, exchange, queues[variant], variant, round, count, results);
            if (round > 0)
            {
                results.Inbox.Add(run);
                Console.WriteLine($"  round {round} {run.Name,-12} {run.MessagesPerSecond,8:N0} msg/s  ({run.Seconds:N2} s; CPU {run.Cpu})");
            }
        }
    }

    /// <summary>The consumer alone; with the library's inbox; with the inbox row added to the consumer's own save.</summary>
    public const string NoInbox = "no-inbox", Inbox = "inbox", RowInSave = "row-in-save";

    private static async Task<ThroughputRun> DrainAsync(
        BenchEnvironment environment, Sizes sizes, IConnection connection, IChannel channel, string exchange, string queue, string variant, int round, int count, BenchResults results)
    {
        var inbox = variant == Inbox;
        await environment.ExecuteAsync("TRUNCATE receipts, inbox_messages", billing: true);

        // Durable, not exclusive, not auto-delete, no arguments: as MassTransit declares the endpoint's queue.
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        var occurredAt = DateTime.UtcNow;
        await Rabbit.PublishAsync(channel, count, 100, i => RelayLikeMessage.ToQueue(queue, exchange, Payloads.Create(Guid.CreateVersion7(), i), occurredAt));
        var depth = await Rabbit.WaitForDepthAsync(connection, queue, count, TimeSpan.FromSeconds(30));
        if (depth != count)
        {
            throw new InvalidOperationException($"The queue holds {depth} messages instead of {count} before the drain.");
        }

        var counter = new DrainCounter(count);
        CpuUsage usage;
        // In the warm-up only: what each message costs in SQL commands (round trips).
        using var statements = round == 0 ? new StatementCounter() : null;
        await using (var host = await BenchHost.StartAsync(new HostSpec
                     {
                         Environment = environment,
                         Exchange = exchange,
                         Billing = true,
                         Services = s => s.AddSingleton(counter).AddSingleton(new ReceiptOptions(variant == RowInSave || (inbox && Experiments.LeanInbox), inbox && Experiments.LeanInboxCheck, inbox && Experiments.LeanInboxTransaction)),
                         Consumers = x => x.AddIntegrationEventConsumer<ReceiptConsumer>(c =>
                         {
                             c.Bind(exchange, "#");
                             c.QueueName = queue;
                             c.KeepOrder = false;
                             if (inbox && !Experiments.LeanInbox)
                             {
                                 c.UseInbox<BillingDbContext>();
                             }
                         }),
                         // MassTransit's default on 2 cores is min(2 x cores, 16) = 4 at once; both variants get the same.
                         ConfigureBus = (cfg, _) => cfg.PrefetchCount = sizes.InboxPrefetch,
                     }))
        {
            var cpu = CpuMeter.Start();
            await counter.Done.WaitAsync(TimeSpan.FromMinutes(5));
            usage = cpu.Stop();
        }

        if (statements is not null)
        {
            var perMessage = statements.Counts.OrderByDescending(c => c.Value)
                .ToDictionary(c => c.Key, c => Math.Round(c.Value / (double)count, 2));
            results.InboxCommandsPerMessage[variant] = perMessage;
            Console.WriteLine($"  warm-up {variant}: {statements.Total / (double)count:N2} SQL commands per message: " +
                              string.Join("; ", perMessage.Select(p => $"{p.Value:N2} x {p.Key}")));
        }

        var receipts = await environment.CountAsync("receipts", billing: true);
        var inboxRows = await environment.CountAsync("inbox_messages", billing: true);
        var errors = await Rabbit.DepthAsync(connection, queue + "_error");
        if (receipts != count || inboxRows != (variant == NoInbox ? 0 : count) || errors > 0)
        {
            results.Errors.Add($"Inbox drain ({variant}, round {round}): {receipts} receipts, {inboxRows} inbox rows, {errors} in _error; expected {count}.");
        }

        var seconds = Stats.Milliseconds(counter.First, counter.Last) / 1000;
        return new ThroughputRun
        {
            Name = variant,
            Round = round,
            Messages = count - 1,
            Seconds = seconds,
            Cpu = usage,
        };
    }
}
