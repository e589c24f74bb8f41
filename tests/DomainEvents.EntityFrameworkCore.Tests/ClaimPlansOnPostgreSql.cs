using System.Text.Json;
using System.Text.RegularExpressions;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// What PostgreSQL does for a claim while another batch of the relay is in flight, on a table whose statistics were taken
/// before anything was leased (an outbox filled between two ANALYZEs): each head's key is looked up among the leased rows,
/// not compared with every one of them.
/// </summary>
[Category("Integration")]
public sealed partial class ClaimPlansOnPostgreSql
{
    private const int Keys = 300;
    private const int Batch = 200;

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_claim_beside_a_batch_in_flight_looks_up_each_heads_key_instead_of_comparing_it_with_every_leased_row(bool scan)
    {
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql);
        await host.InScopeAsync(async db =>
        {
            db.Set<OutboxMessage>().AddRange(Enumerable.Range(0, 3 * Keys).Select(i => RelayingThroughYourOwnTransport.Row($"Key/{i % Keys:D3}", 0, DateTime.UtcNow)));
            await db.SaveChangesAsync();
        });

        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrderingDbContext>();
        var statements = new PostgresRelayStatements(db);
        var table = RelayTable.NameOf(db, withSchema: true);
        var connection = db.Database.GetDbConnection();
        await connection.OpenAsync();
        // No auto-analyze between the statistics taken here and the claim explained below (the first claim's 200 updates pass
        // its threshold): it could give the join the statistics of leased rows and hide what this test looks for.
        await using (var analyze = RelayTable.Command(connection, $"ALTER TABLE {table} SET (autovacuum_enabled = off); ANALYZE {table}"))
        {
            await analyze.ExecuteNonQueryAsync();
        }

        // The first batch: 200 rows on 200 keys, in flight.
        var first = await statements.ClaimAsync(connection, Request("relay#1"), CancellationToken.None);
        first.Rows.Should().HaveCount(Batch);

        // The second claim, explained as it runs (and rolled back): its window holds 200 heads, 100 of them of free keys. With
        // the scan over keys, which runs since those leave the batch short, the scan finds no other free head: every key's
        // first pending row is leased or in the window.
        var plan = await ExplainAsync(connection, statements.ClaimStatement(scan), Request("relay#2"));
        var leased = Count(plan, "Actual Rows", node => node.TryGetProperty("Node Type", out var type) && type.GetString() == "ModifyTable");
        leased.Should().Be(Batch, "the 100 keys the first batch does not hold are claimed, two rows each");
        var keyComparisons = Count(plan, "Rows Removed by Join Filter",
            node => node.TryGetProperty("Join Filter", out var filter) && LeasedRowKey().IsMatch(filter.GetString()!));
        keyComparisons.Should().BeLessThan(Batch,
            "no head is compared with every leased row (the join the statistics chose compared each of the 200 heads with the 200 leased rows)");
    }

    /// <summary>The key of a row of the probes into leased rows (aliased <c>l</c>, <c>l_1</c>, ... in plans).</summary>
    [GeneratedRegex(@"\bl(_\d+)?\.partition_key\b")]
    private static partial Regex LeasedRowKey();

    private static OutboxClaimRequest Request(string owner) => new(owner, "relay#", Batch, DateTime.UtcNow, TimeSpan.FromMinutes(1));

    private static async Task<JsonElement> ExplainAsync(System.Data.Common.DbConnection connection, string claim, OutboxClaimRequest request)
    {
        await using var transaction = await connection.BeginTransactionAsync();
        await using var command = RelayTable.Command(connection, "EXPLAIN (ANALYZE, FORMAT JSON) " + claim,
            ("owner", request.Owner), ("batch", request.BatchSize), ("take", request.BatchSize), ("lease", request.Lease), ("mine", request.OwnerPrefix), ("after", ""));
        command.Transaction = transaction;
        var json = (string)(await command.ExecuteScalarAsync())!;
        await transaction.RollbackAsync();
        return JsonDocument.Parse(json).RootElement[0].GetProperty("Plan");
    }

    /// <summary>The sum of a figure over the plan's nodes (those <paramref name="where"/> accepts), sub-plans and CTEs included.</summary>
    private static long Count(JsonElement node, string figure, Func<JsonElement, bool>? where = null)
    {
        var sum = node.TryGetProperty(figure, out var value) && (where?.Invoke(node) ?? true) ? value.GetInt64() : 0;
        if (node.TryGetProperty("Plans", out var children))
        {
            sum += children.EnumerateArray().Sum(child => Count(child, figure, where));
        }

        return sum;
    }
}
