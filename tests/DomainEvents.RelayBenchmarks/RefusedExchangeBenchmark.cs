using RabbitMQ.Client;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// Measurement 6: one exchange the broker refuses must not slow the others. The relay drains a backlog to a good
/// exchange, alone and while rows on 10 keys go to an exchange that exists as direct (the relay publishes to topic
/// exchanges, so the broker closes the channel with 406 PRECONDITION_FAILED on each attempt; each refusal is an
/// attempt, retried after 50-200 ms, so they keep failing through the whole drain). Rounds in ABBA order.
/// </summary>
public static class RefusedExchangeBenchmark
{
    private const int RefusedKeys = 10;

    public static async Task RunAsync(BenchEnvironment environment, Sizes sizes, BenchResults results)
    {
        var refused = environment.Exchange("refusal-refused");
        await using var rig = await RelayRig.StartAsync(environment, sizes, "refusal-good", r =>
        {
            r.MaxAttempts = 1_000;
            r.RetryBaseDelay = TimeSpan.FromMilliseconds(50);
            r.RetryMaxDelay = TimeSpan.FromMilliseconds(200);
        });
        await using (var admin = await rig.Admin.CreateChannelAsync())
        {
            await admin.ExchangeDeclareAsync(refused, ExchangeType.Direct, durable: true, autoDelete: false);
        }

        await environment.ExecuteAsync("TRUNCATE outbox_messages, orders");
        Console.WriteLine($"  warm-up: {sizes.ThroughputWarmup:N0} rows");
        await rig.DrainAsync(environment, sizes.ThroughputWarmup);
        await rig.CheckSinkAsync(sizes.ThroughputWarmup, results);

        foreach (var withRefused in new[] { false, true, true, false })
        {
            await environment.ExecuteAsync("TRUNCATE outbox_messages, orders");
            if (withRefused)
            {
                await environment.ExecuteAsync($"""
                    INSERT INTO outbox_messages (message_id, message_type, version, exchange, routing_key, partition_key, payload, headers,
                                                 occurred_at, status, attempts, next_attempt_at)
                    SELECT gen_random_uuid(), 'order.placed', 1, '{refused}', 'order.placed', 'Refused/' || g, '{"{}"}', '{"{}"}', now(), 0, 0, now()
                    FROM generate_series(1, {RefusedKeys}) g
                    """);
                // Let the relay meet the refusals before the backlog appears.
                await Task.Delay(TimeSpan.FromSeconds(2));
            }

            var attemptsBefore = await AttemptsAsync();
            var (seconds, cpu, relay) = await rig.DrainAsync(environment, sizes.RefusalRows);
            var attempts = await AttemptsAsync() - attemptsBefore;
            await rig.CheckSinkAsync(sizes.RefusalRows, results);
            var run = new ThroughputRun
            {
                Name = withRefused ? "with-refused" : "alone",
                Round = results.Refusal.Count + 1,
                Messages = sizes.RefusalRows,
                Seconds = seconds,
                Cpu = cpu,
                Relay = relay,
                RefusedAttempts = withRefused ? attempts : null,
            };
            results.Refusal.Add(run);
            Console.WriteLine($"  {run.Name,-13} {run.MessagesPerSecond,8:N0} msg/s ({seconds:N2} s; CPU {cpu})" +
                              (withRefused ? $"; {attempts} refused attempts charged during the drain" : ""));
        }

        await environment.ExecuteAsync("TRUNCATE outbox_messages, orders");

        Task<long> AttemptsAsync() => environment.ScalarAsync($"SELECT coalesce(sum(attempts), 0) FROM outbox_messages WHERE exchange = '{refused}'");
    }
}
