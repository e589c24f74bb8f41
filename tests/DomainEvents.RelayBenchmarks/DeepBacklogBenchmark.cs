using RabbitMQ.Client;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// Measurement 5: what a claim costs when the backlog is deep. First the relay drains a backlog of the throughput
/// size (50,000 rows on 1,000 keys); then the table holds a stuck backlog (1,000,000 pending rows on 10 keys whose
/// heads back off for a day, older than everything else) and 5,000 rows on 1,000 fresh keys are written behind it.
/// The goal compares the mean claim of the second drain with the first's, and the fresh rows must all go out.
/// </summary>
public static class DeepBacklogBenchmark
{
    private const int StuckKeys = 10;

    public static async Task RunAsync(BenchEnvironment environment, Sizes sizes, BenchResults results)
    {
        await using var rig = await RelayRig.StartAsync(environment, sizes, "deep");
        await environment.ExecuteAsync("TRUNCATE outbox_messages, orders");
        Console.WriteLine($"  warm-up: {sizes.ThroughputWarmup:N0} rows");
        await rig.DrainAsync(environment, sizes.ThroughputWarmup);
        await rig.CheckSinkAsync(sizes.ThroughputWarmup, results);

        await environment.ExecuteAsync("TRUNCATE outbox_messages, orders");
        var shallow = await DrainAsync("shallow", 0, sizes.Backlog);

        // The stuck backlog: rows to another exchange (never sent), written by the server, their keys' heads backing off.
        await environment.ExecuteAsync("TRUNCATE outbox_messages, orders");
        Console.WriteLine($"  writing {sizes.DeepStuckRows:N0} stuck rows on {StuckKeys} keys");
        await environment.ExecuteAsync($"""
            INSERT INTO outbox_messages (message_id, message_type, version, exchange, routing_key, partition_key, payload, headers,
                                         occurred_at, status, attempts, next_attempt_at)
            SELECT gen_random_uuid(), 'order.placed', 1, 'stuck', 'order.placed', 'Stuck/' || (g % {StuckKeys}), '{"{}"}', '{"{}"}', now(), 0,
                   CASE WHEN g <= {StuckKeys} THEN 1 ELSE 0 END, CASE WHEN g <= {StuckKeys} THEN now() + interval '1 day' ELSE now() END
            FROM generate_series(1, {sizes.DeepStuckRows}) g
            """);
        await environment.ExecuteAsync("VACUUM ANALYZE outbox_messages");
        var deep = await DrainAsync("deep", sizes.DeepStuckRows, sizes.DeepFreshRows);
        var stuck = await environment.CountAsync("outbox_messages", "status = 0 AND exchange = 'stuck' AND attempts = 0 AND lease_owner IS NULL");
        if (stuck != sizes.DeepStuckRows - StuckKeys)
        {
            results.Errors.Add($"Measurement 5: {sizes.DeepStuckRows - StuckKeys - stuck} rows behind the stuck heads were touched.");
        }

        await environment.ExecuteAsync("TRUNCATE outbox_messages, orders");
        results.DeepBacklog.Add(shallow);
        results.DeepBacklog.Add(deep);

        async Task<DeepBacklogRun> DrainAsync(string name, int stuckRows, int count)
        {
            var (seconds, cpu, relay) = await rig.DrainAsync(environment, count);
            await rig.CheckSinkAsync(count, results);
            var run = new DeepBacklogRun { Name = name, StuckRows = stuckRows, Messages = count, Seconds = seconds, Cpu = cpu, Relay = relay };
            Console.WriteLine($"  {name,-8} {count:N0} rows behind {stuckRows:N0} stuck: {run.MessagesPerSecond:N0} msg/s ({seconds:N2} s; CPU {cpu}); " +
                              $"{relay.Claims} claims, mean {relay.ClaimMsMean:N1} ms, max {relay.ClaimMsMax:N1} ms");
            return run;
        }
    }
}
