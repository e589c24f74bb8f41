using System.Diagnostics;
using DomainEvents.EntityFrameworkCore.Relay;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using NpgsqlTypes;
using RabbitMQ.Client;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// Measurement 1: the relay drains a backlog of outbox rows to a topic exchange, against a typed MassTransit send and
/// raw RabbitMQ.Client publishing of the same number of messages to the same exchange, each with publisher confirms
/// and the same number in flight. A durable queue bound with '#' receives every message (nothing consumes it; it is
/// checked to hold exactly the messages sent, then purged). Three more runners are not baselines of a goal; each
/// takes one part of the relay's work away, so the report can say where its time goes:
/// <list type="bullet">
/// <item><b>plain-outbox</b>: the least an outbox of any kind does per message, read from a table of its own (see
/// <see cref="PlainOutboxAsync"/>);</item>
/// <item><b>plain-outbox-transport</b>: the same plain outbox sending each row through the relay's own transport: the
/// least an outbox that sends through MassTransit does;</item>
/// <item><b>row-lease-outbox-transport</b> and <b>key-lease-outbox-transport</b>: that outbox writing a lease as well, on
/// each row as the relay does, or on each key in a table of keys (see <see cref="PlainOutboxAsync"/>'s lease): what a lease
/// costs by itself;</item>
/// <item><b>relay-transport</b>: the relay's own transport sending rows held in memory, without the relay and its
/// database (see <see cref="RelayTransportAsync"/>);</item>
/// <item><b>raw-no-headers</b>: the raw baseline without the AMQP headers the relay writes on every message (the same
/// body), which shows what those headers cost the broker;</item>
/// <item><b>masstransit-headers</b>: MassTransit's typed send with those 8 headers set on its send context, which shows
/// what the relay's transport costs beyond MassTransit and the headers.</item>
/// </list>
/// </summary>
public static class ThroughputBenchmark
{
    public const string RoutingKey = "order.placed";

    /// <param name="only">Runs only these runners, when given (for investigating; the report then lacks what they leave out).</param>
    public static async Task RunAsync(BenchEnvironment environment, Sizes sizes, BenchResults results, IReadOnlyCollection<string>? only = null)
    {
        await using var rig = await RelayRig.StartAsync(environment, sizes, "throughput");
        var (exchange, keys, host, trace, adminConnection, sink) = (rig.Exchange, rig.Keys, rig.Host, rig.Trace, rig.Admin, rig.Sink);
        var bus = host.Services.GetRequiredService<IBus>();
        var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{exchange}?type=topic"));
        await using var rawConnection = await environment.ConnectRabbitAsync("throughput-raw");
        await using var rawChannel = await rawConnection.CreateChannelAsync(Rabbit.Confirms);
        await using var floorChannel = await rawConnection.CreateChannelAsync(Rabbit.Confirms);
        await environment.ExecuteAsync($"DROP TABLE IF EXISTS {PlainOutboxTable}; CREATE TABLE {PlainOutboxTable} (LIKE outbox_messages INCLUDING ALL)");
        await environment.ExecuteAsync($"DROP TABLE IF EXISTS {PlainKeysTable}; CREATE TABLE {PlainKeysTable} (partition_key text PRIMARY KEY, lease_owner text, lease_expires_at timestamptz) WITH (fillfactor = 70)");

        var transport = host.Services.GetRequiredService<IOutboxTransport>();
        var runners = new Dictionary<string, Func<int, int, Task<ThroughputRun>>>
        {
            ["relay"] = (count, round) => RelayAsync(environment, trace, keys, exchange, count, round),
            ["masstransit"] = (count, round) => MassTransitAsync(endpoint, exchange, keys, count, sizes.InFlight, round),
            ["raw"] = (count, round) => RawAsync(rawChannel, exchange, keys, count, sizes.InFlight, round),
            ["plain-outbox"] = (count, round) => PlainOutboxAsync(environment, "plain-outbox", row => RawPublishAsync(floorChannel, row), exchange, keys, count, sizes.InFlight, round),
            ["plain-outbox-transport"] = (count, round) => PlainOutboxAsync(environment, "plain-outbox-transport", row => transport.SendAsync(row, CancellationToken.None), exchange, keys, count, sizes.InFlight, round),
            ["row-lease-outbox-transport"] = (count, round) => PlainOutboxAsync(environment, "row-lease-outbox-transport", row => transport.SendAsync(row, CancellationToken.None), exchange, keys, count, sizes.InFlight, round, FloorLease.Rows),
            ["key-lease-outbox-transport"] = (count, round) => PlainOutboxAsync(environment, "key-lease-outbox-transport", row => transport.SendAsync(row, CancellationToken.None), exchange, keys, count, sizes.InFlight, round, FloorLease.Keys),
            ["relay-transport"] = (count, round) => RelayTransportAsync(transport, exchange, keys, count, sizes.InFlight, round),
            ["raw-no-headers"] = (count, round) => RawAsync(rawChannel, exchange, keys, count, sizes.InFlight, round, headers: false),
            ["masstransit-headers"] = (count, round) => MassTransitAsync(endpoint, exchange, keys, count, sizes.InFlight, round, headers: true),
        };

        if (only is not null)
        {
            foreach (var name in runners.Keys.Except(only).ToList())
            {
                runners.Remove(name);
            }
        }

        Console.WriteLine($"  warm-up: {sizes.ThroughputWarmup:N0} messages each");
        foreach (var (_, run) in runners)
        {
            await run(sizes.ThroughputWarmup, 0);
            await Drain(adminConnection, sink, sizes.ThroughputWarmup, results);
        }

        for (var round = 1; round <= sizes.ThroughputRounds; round++)
        {
            // Alternate the order, so drift over the run (other load, a growing table) does not favour one side.
            var order = round % 2 == 1 ? runners.Keys.ToArray() : runners.Keys.Reverse().ToArray();
            foreach (var name in order)
            {
                var result = await runners[name](sizes.Backlog, round);
                await Drain(adminConnection, sink, sizes.Backlog, results);
                results.Throughput.Add(result);
                Console.WriteLine($"  round {round} {name,-15} {result.MessagesPerSecond,8:N0} msg/s  ({result.Seconds:N2} s; CPU {result.Cpu})");
                if (result.Relay is { } relay)
                {
                    Console.WriteLine($"    relay: {relay.Claims} claims ({relay.RowsPerClaim:N0} rows each) {relay.ClaimSeconds:N2} s, mean {relay.ClaimMsMean:N1} ms, max {relay.ClaimMsMax:N1} ms; " +
                                      $"{relay.Marks} marks {relay.MarkSeconds:N2} s (claims and marks overlap the sending of the other batch in flight)");
                }
            }
        }
    }

    /// <summary>Checks that the bound queue received exactly the messages sent, then empties it.</summary>
    internal static async Task Drain(IConnection connection, string sink, int expected, BenchResults results)
    {
        var depth = await Rabbit.WaitForDepthAsync(connection, sink, expected, TimeSpan.FromSeconds(30));
        if (depth != expected)
        {
            results.Errors.Add($"The bound queue held {depth} messages instead of {expected}.");
        }

        await using var channel = await connection.CreateChannelAsync();
        await channel.QueuePurgeAsync(sink);
    }

    private static async Task<ThroughputRun> RelayAsync(BenchEnvironment environment, RelayStatementTrace trace, string[] keys, string exchange, int count, int round)
    {
        await environment.ExecuteAsync("TRUNCATE outbox_messages, orders");
        var (seconds, cpu, breakdown) = await TimeRelayAsync(environment, trace, keys, exchange, count);
        return new ThroughputRun { Name = "relay", Round = round, Messages = count, Seconds = seconds, Cpu = cpu, Relay = breakdown };
    }

    /// <summary>
    /// The relay host is running and idle. A backlog of <paramref name="count"/> rows to <paramref name="exchange"/> appears
    /// at once: COPY in one transaction that also NOTIFYs (delivered at commit) and ANALYZEs, so the claim plans for the
    /// table as it is. Timed from the commit until the relay has marked them all processed.
    /// </summary>
    internal static async Task<(double Seconds, CpuUsage Cpu, RelayBreakdown Breakdown)> TimeRelayAsync(
        BenchEnvironment environment, RelayStatementTrace trace, string[] keys, string exchange, int count)
    {
        await using var connection = new NpgsqlConnection(environment.ShopConnectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await CopyBacklogAsync(connection, exchange, keys, count);
        await using (var analyze = new NpgsqlCommand($"ANALYZE outbox_messages; NOTIFY {environment.NotifyChannel}", connection, transaction))
        {
            await analyze.ExecuteNonQueryAsync();
        }

        trace.Reset(count);
        var cpu = CpuMeter.Start();
        var start = Stopwatch.GetTimestamp();
        await transaction.CommitAsync();
        var deadline = Stopwatch.StartNew();
        while (trace.ReachedAt is null)
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(5))
            {
                throw new TimeoutException($"The relay marked {trace.Marked} of {count} rows processed in 5 minutes.");
            }

            await Task.Delay(5);
        }

        var end = trace.ReachedAt.Value;
        var usage = cpu.Stop();
        var seconds = Stats.Milliseconds(start, end) / 1000;
        var statements = trace.Take().Where(s => s.StartTimestamp >= start && s.StartTimestamp <= end).ToList();
        var pending = await environment.CountAsync("outbox_messages", $"status <> 1 AND exchange = '{exchange}'");
        if (pending != 0)
        {
            throw new InvalidOperationException($"{pending} rows are not processed after the relay marked {trace.Marked}.");
        }

        return (seconds, usage, Breakdown(statements, count, seconds));
    }

    /// <summary>Writes <paramref name="count"/> due rows with COPY, keys taken in turn, in the connection's transaction.</summary>
    internal static async Task CopyBacklogAsync(NpgsqlConnection connection, string exchange, string[] keys, int count, string table = "outbox_messages")
    {
        var now = DateTime.UtcNow.AddSeconds(-1);
        await using var importer = await connection.BeginBinaryImportAsync(
            $"COPY {table} (message_id, message_type, version, exchange, routing_key, partition_key, payload, headers, " +
            "occurred_at, status, attempts, next_attempt_at) FROM STDIN (FORMAT BINARY)");
        for (var i = 0; i < count; i++)
        {
            var messageId = Guid.CreateVersion7();
            await importer.StartRowAsync();
            await importer.WriteAsync(messageId, NpgsqlDbType.Uuid);
            await importer.WriteAsync(RelayLikeMessage.MessageType, NpgsqlDbType.Varchar);
            await importer.WriteAsync(1, NpgsqlDbType.Integer);
            await importer.WriteAsync(exchange, NpgsqlDbType.Varchar);
            await importer.WriteAsync(RoutingKey, NpgsqlDbType.Varchar);
            await importer.WriteAsync(keys[i % keys.Length], NpgsqlDbType.Varchar);
            await importer.WriteAsync(RelayLikeMessage.Payload(Payloads.Create(Guid.CreateVersion7(), i)), NpgsqlDbType.Text);
            // What the library stores without a trace context: the correlation id, which is the first message's id.
            await importer.WriteAsync($"{{\"correlation-id\":\"{messageId}\"}}", NpgsqlDbType.Text);
            await importer.WriteAsync(now, NpgsqlDbType.TimestampTz);
            await importer.WriteAsync(0, NpgsqlDbType.Integer);
            await importer.WriteAsync(0, NpgsqlDbType.Integer);
            await importer.WriteAsync(now, NpgsqlDbType.TimestampTz);
        }

        await importer.CompleteAsync();
    }

    internal static RelayBreakdown Breakdown(List<RelayStatementTrace.Statement> statements, int count, double seconds)
    {
        var claims = statements.Where(s => s.Kind == RelayStatementTrace.Kind.Claim).ToList();
        var marks = statements.Where(s => s.Kind == RelayStatementTrace.Kind.MarkProcessed).ToList();
        var overTable = claims.Where(c => c.OverTable).ToList();
        var questions = statements.Where(s => s.Kind == RelayStatementTrace.Kind.MayClaim).ToList();
        var claimSeconds = claims.Sum(c => c.Duration.TotalSeconds);
        var markSeconds = marks.Sum(m => m.Duration.TotalSeconds);
        var sendSeconds = Math.Max(1e-6, seconds - claimSeconds - markSeconds);
        return new RelayBreakdown
        {
            Claims = claims.Count,
            ClaimsOverTable = overTable.Count,
            ClaimOverTableMsMean = Stats.Round(overTable.Count == 0 ? 0 : overTable.Average(c => c.Duration.TotalMilliseconds), 2),
            ClaimOverTableMsMax = Stats.Round(overTable.Count == 0 ? 0 : overTable.Max(c => c.Duration.TotalMilliseconds), 1),
            PollQuestions = questions.Count,
            PollQuestionMsMean = Stats.Round(questions.Count == 0 ? 0 : questions.Average(c => c.Duration.TotalMilliseconds), 2),
            PollQuestionMsMax = Stats.Round(questions.Count == 0 ? 0 : questions.Max(c => c.Duration.TotalMilliseconds), 1),
            RowsPerClaim = Stats.Round(count / (double)Math.Max(1, marks.Count), 1),
            ClaimMsMean = Stats.Round(claims.Count == 0 ? 0 : claims.Average(c => c.Duration.TotalMilliseconds), 1),
            ClaimMsMax = Stats.Round(claims.Count == 0 ? 0 : claims.Max(c => c.Duration.TotalMilliseconds), 1),
            ClaimSeconds = Stats.Round(claimSeconds, 3),
            Marks = marks.Count,
            MarkMsMean = Stats.Round(marks.Count == 0 ? 0 : marks.Average(m => m.Duration.TotalMilliseconds), 1),
            MarkSeconds = Stats.Round(markSeconds, 3),
            SendSeconds = Stats.Round(sendSeconds, 3),
            SendPhaseMessagesPerSecond = Stats.Round(count / sendSeconds, 0),
        };
    }

    private static Task<ThroughputRun> MassTransitAsync(ISendEndpoint endpoint, string exchange, string[] keys, int count, int inFlight, int round, bool headers = false)
    {
        var messages = Enumerable.Range(0, count).Select(i => Payloads.Create(Guid.CreateVersion7(), i)).ToArray();
        var occurredAt = DateTime.UtcNow;

        // Typed send: MassTransit serializes the message into its envelope; confirms are on by default. With headers, the
        // relay's 8 AMQP headers are set on the send context, built per message as the relay does.
        return TimeWindowAsync(headers ? "masstransit-headers" : "masstransit", messages, inFlight, round, message => endpoint.Send(message, context =>
        {
            context.SetRoutingKey(RoutingKey);
            if (headers)
            {
                foreach (var (name, value) in RelayLikeMessage.Headers(context.MessageId ?? Guid.Empty, exchange, RoutingKey, keys[message.Sequence % keys.Length], occurredAt))
                {
                    context.Headers.Set(name, value);
                }
            }
        }));
    }

    /// <summary>Sends every item, <paramref name="inFlight"/> at a time, timed from the first send to the last confirm.</summary>
    private static async Task<ThroughputRun> TimeWindowAsync<T>(string name, T[] items, int inFlight, int round, Func<T, Task> send)
    {
        using var gate = new SemaphoreSlim(inFlight);
        var sends = new Task[items.Length];
        var cpu = CpuMeter.Start();
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < items.Length; i++)
        {
            await gate.WaitAsync();
            sends[i] = SendAsync(items[i]);
        }

        await Task.WhenAll(sends);
        var end = Stopwatch.GetTimestamp();
        return new ThroughputRun { Name = name, Round = round, Messages = items.Length, Seconds = Stats.Milliseconds(start, end) / 1000, Cpu = cpu.Stop() };

        async Task SendAsync(T item)
        {
            try
            {
                await send(item);
            }
            finally
            {
                gate.Release();
            }
        }
    }

    private const string PlainOutboxTable = "plain_outbox_messages";

    /// <summary>The floor's table of per-key leases (<see cref="FloorLease.Keys"/>).</summary>
    private const string PlainKeysTable = "plain_outbox_keys";

    /// <summary>What the floor writes as a lease.</summary>
    private enum FloorLease
    {
        None,
        Rows,
        Keys,
    }

    /// <summary>
    /// The floor of any outbox on this machine: <paramref name="publish"/> (raw RabbitMQ.Client publishing of the same bytes
    /// as <see cref="RawAsync"/>, or the relay's transport), plus the least database work an outbox does per message: each
    /// row read once (the columns the relay reads) and marked processed once. The backlog is written the same way as the
    /// relay's, into a copy of the outbox table (same columns and indexes) that the relay does not read. Batches of 500
    /// rows are read in id order while the batch before is being sent (no lease, no order per key, no retries: none of an
    /// outbox's guarantees beyond "sent, then marked"), the sends of consecutive batches share one window of
    /// <paramref name="inFlight"/>, and each batch is marked once all its confirms are in, on a connection of its own. Timed like the relay: from the backlog's commit until the last row is marked.
    /// </summary>
    /// <param name="lease">
    /// What the floor writes as a lease, to measure what a lease costs by itself (still no order, no check of a key's lease):
    /// nothing; each row's lease columns, set in the statement that reads the batch and cleared by its mark, as the relay
    /// does (an update that writes a new version of every row and its index entries); or a lease per key in a table of
    /// keys, upserted with the read and cleared with the mark (an update that can stay on its page and writes no index).
    /// </param>
    private static async Task<ThroughputRun> PlainOutboxAsync(
        BenchEnvironment environment, string name, Func<OutboxEnvelope, Task> publish, string exchange, string[] keys, int count, int inFlight, int round,
        FloorLease lease = FloorLease.None)
    {
        const int batch = 500;
        await environment.ExecuteAsync($"TRUNCATE {PlainOutboxTable}, {PlainKeysTable}");
        // Three connections of a pool of their own, whatever an experiment does to the relay's pool.
        var connectionString = new NpgsqlConnectionStringBuilder(environment.ShopConnectionString) { ApplicationName = "plain-outbox", MaxPoolSize = 3 }.ConnectionString;
        await using var writer = new NpgsqlConnection(connectionString);
        await using var reader = new NpgsqlConnection(connectionString);
        await using var marker = new NpgsqlConnection(connectionString);
        await Task.WhenAll(writer.OpenAsync(), reader.OpenAsync(), marker.OpenAsync());
        await using (var transaction = await writer.BeginTransactionAsync())
        {
            await CopyBacklogAsync(writer, exchange, keys, count, PlainOutboxTable);
            await using (var analyze = new NpgsqlCommand($"ANALYZE {PlainOutboxTable}", writer, transaction))
            {
                await analyze.ExecuteNonQueryAsync();
            }

            var cpu = CpuMeter.Start();
            var start = Stopwatch.GetTimestamp();
            await transaction.CommitAsync();
            using var gate = new SemaphoreSlim(inFlight);
            var marked = Task.FromResult(0);
            var next = ReadAsync(0);
            while (await next is { Count: > 0 } rows)
            {
                next = ReadAsync(rows[^1].Id);
                var sends = new Task[rows.Count];
                for (var i = 0; i < rows.Count; i++)
                {
                    await gate.WaitAsync();
                    sends[i] = SendAsync(rows[i]);
                }

                marked = MarkAfterAsync(marked, sends, rows);
            }

            await marked;
            var end = Stopwatch.GetTimestamp();
            var usage = cpu.Stop();
            var pending = await environment.CountAsync(PlainOutboxTable, "status <> 1");
            if (pending != 0)
            {
                throw new InvalidOperationException($"{pending} rows of the plain outbox are not processed.");
            }

            return new ThroughputRun { Name = name, Round = round, Messages = count, Seconds = Stats.Milliseconds(start, end) / 1000, Cpu = usage };

            async Task SendAsync(OutboxEnvelope row)
            {
                try
                {
                    await publish(row);
                }
                finally
                {
                    gate.Release();
                }
            }
        }

        async Task<List<OutboxEnvelope>> ReadAsync(long after)
        {
            const string columns = "id, message_id, message_type, version, exchange, routing_key, partition_key, payload, headers, occurred_at, attempts";
            var window = $"SELECT {columns} FROM {PlainOutboxTable} WHERE status = 0 AND id > @after ORDER BY id LIMIT @batch";
            await using var command = new NpgsqlCommand(
                lease switch
                {
                    FloorLease.Rows => $"""
                        WITH w AS ({window})
                        UPDATE {PlainOutboxTable} t SET lease_owner = 'floor', lease_expires_at = now() + interval '1 minute'
                        FROM w WHERE t.id = w.id
                        RETURNING {string.Join(", ", columns.Split(", ").Select(c => "t." + c))}
                        """,
                    FloorLease.Keys => $"""
                        WITH w AS ({window}),
                        k AS (INSERT INTO {PlainKeysTable} (partition_key, lease_owner, lease_expires_at)
                              SELECT DISTINCT partition_key, 'floor', now() + interval '1 minute' FROM w ORDER BY partition_key
                              ON CONFLICT (partition_key) DO UPDATE SET lease_owner = excluded.lease_owner, lease_expires_at = excluded.lease_expires_at)
                        SELECT {columns} FROM w ORDER BY id
                        """,
                    _ => window,
                },
                reader);
            command.Parameters.AddWithValue("after", after);
            command.Parameters.AddWithValue("batch", batch);
            await using var result = await command.ExecuteReaderAsync();
            var rows = new List<OutboxEnvelope>(batch);
            while (await result.ReadAsync())
            {
                rows.Add(new OutboxEnvelope(result.GetInt64(0), result.GetGuid(1), result.GetString(2), result.GetInt32(3), result.GetString(4), result.GetString(5),
                    result.GetString(6), result.GetString(7), result.GetString(8), result.GetDateTime(9), result.GetInt32(10)));
            }

            // An UPDATE's RETURNING has no order; the other statements return the rows in id order.
            if (lease == FloorLease.Rows)
            {
                rows.Sort((a, b) => a.Id.CompareTo(b.Id));
            }

            return rows;
        }

        // Marks run one after another on their connection, each once its batch is confirmed.
        async Task<int> MarkAfterAsync(Task<int> previous, Task[] sends, List<OutboxEnvelope> rows)
        {
            await previous;
            await Task.WhenAll(sends);
            await using var command = new NpgsqlCommand(
                lease switch
                {
                    FloorLease.Rows => $"UPDATE {PlainOutboxTable} SET status = 1, processed_at = now(), lease_owner = NULL, lease_expires_at = NULL WHERE id = ANY(@ids) AND lease_owner = 'floor'",
                    // Keys are locked in their order by both the lease and its release: a batch's release and a later batch's lease
                    // of the same keys (the floor reads ahead without looking at keys) would otherwise deadlock.
                    FloorLease.Keys => $"UPDATE {PlainOutboxTable} SET status = 1, processed_at = now() WHERE id = ANY(@ids); " +
                                       $"WITH l AS (SELECT partition_key FROM {PlainKeysTable} WHERE partition_key = ANY(@keys) ORDER BY partition_key FOR UPDATE) " +
                                       $"UPDATE {PlainKeysTable} k SET lease_owner = NULL, lease_expires_at = NULL FROM l WHERE k.partition_key = l.partition_key",
                    _ => $"UPDATE {PlainOutboxTable} SET status = 1, processed_at = now() WHERE id = ANY(@ids)",
                },
                marker);
            command.Parameters.AddWithValue("ids", rows.Select(r => r.Id).ToArray());
            if (lease == FloorLease.Keys)
            {
                command.Parameters.AddWithValue("keys", rows.Select(r => r.PartitionKey).Distinct().ToArray());
            }

            return await command.ExecuteNonQueryAsync();
        }
    }

    /// <summary>
    /// The relay's transport (the one the relay host resolves, idle meanwhile) sending <paramref name="count"/> rows built in
    /// memory as the relay reads them from the backlog, <paramref name="inFlight"/> at a time: what the relay's sending costs
    /// without claims, marks, leases or batches.
    /// </summary>
    private static Task<ThroughputRun> RelayTransportAsync(IOutboxTransport transport, string exchange, string[] keys, int count, int inFlight, int round)
    {
        var occurredAt = DateTime.UtcNow;
        var rows = Enumerable.Range(0, count).Select(i =>
        {
            var messageId = Guid.CreateVersion7();
            return new OutboxEnvelope(i + 1, messageId, RelayLikeMessage.MessageType, 1, exchange, RoutingKey, keys[i % keys.Length],
                RelayLikeMessage.Payload(Payloads.Create(Guid.CreateVersion7(), i)), $"{{\"correlation-id\":\"{messageId}\"}}", occurredAt, 0);
        }).ToArray();
        return TimeWindowAsync("relay-transport", rows, inFlight, round, row => transport.SendAsync(row, CancellationToken.None));
    }

    /// <summary>The relay's message for <paramref name="row"/> as raw RabbitMQ.Client publishes it (see <see cref="RelayLikeMessage"/>).</summary>
    private static Task RawPublishAsync(IChannel channel, OutboxEnvelope row) =>
        channel.BasicPublishAsync(row.Exchange, row.RoutingKey, mandatory: false,
            RelayLikeMessage.Properties(row.MessageId, row.Exchange, row.RoutingKey, row.PartitionKey, row.OccurredAt),
            RelayLikeMessage.Body(row.MessageId, row.Exchange, row.RoutingKey, row.PartitionKey, row.Payload, row.OccurredAt)).AsTask();

    private static async Task<ThroughputRun> RawAsync(IChannel channel, string exchange, string[] keys, int count, int inFlight, int round, bool headers = true)
    {
        var payloads = Enumerable.Range(0, count).Select(i => RelayLikeMessage.Payload(Payloads.Create(Guid.CreateVersion7(), i))).ToArray();
        var occurredAt = DateTime.UtcNow;
        var cpu = CpuMeter.Start();
        var start = Stopwatch.GetTimestamp();
        await Rabbit.PublishAsync(channel, count, inFlight, i =>
        {
            // The same envelope bytes and headers the relay writes for a row, built per message as the relay does (or the
            // same body with no AMQP headers at all).
            var messageId = Guid.CreateVersion7();
            var key = keys[i % keys.Length];
            return (exchange, RoutingKey,
                headers
                    ? RelayLikeMessage.Properties(messageId, exchange, RoutingKey, key, occurredAt)
                    : new BasicProperties { Persistent = true, MessageId = messageId.ToString(), ContentType = RelayLikeMessage.ContentType },
                RelayLikeMessage.Body(messageId, exchange, RoutingKey, key, payloads[i], occurredAt));
        });
        var end = Stopwatch.GetTimestamp();
        return new ThroughputRun { Name = headers ? "raw" : "raw-no-headers", Round = round, Messages = count, Seconds = Stats.Milliseconds(start, end) / 1000, Cpu = cpu.Stop() };
    }
}
