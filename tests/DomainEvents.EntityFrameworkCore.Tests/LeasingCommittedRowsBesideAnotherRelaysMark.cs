using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// The lease of rows handed over by a commit decides from one snapshot whether a row may pass the earlier rows of its key.
/// Another relay whose lease on an earlier row ran out may still record that row's failed send while the lease runs: the
/// later row must not go without it. (On SQLite writers take turns, so only PostgreSQL has the race.)
/// </summary>
[Category("Integration")]
public sealed class LeasingCommittedRowsBesideAnotherRelaysMark
{
    [Test]
    public async Task A_committed_row_does_not_pass_an_earlier_row_whose_failed_send_another_relay_records_meanwhile()
    {
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql);
        var transport = new SendingRowsCommittedInThisProcess.RecordingTransport();
        using var relay = SendingRowsCommittedInThisProcess.Relay(host, transport, new OutboxRelayOptions { PollingInterval = TimeSpan.FromHours(1) });
        (await relay.RunOnceAsync(CancellationToken.None, committedOnly: true)).Claimed.Should().Be(0);

        // Two rows of one key, both handed to this relay. The first was claimed by another relay, whose lease has run out.
        var order = Order.Place("c1", 10m);
        await SendingRowsCommittedInThisProcess.SaveAsync(host, order);
        await host.InScopeAsync(async db =>
        {
            (await db.Orders.SingleAsync(o => o.Id == order.Id)).RaiseEvent(new OrderShipped(order.Id));
            await db.SaveChangesAsync();
        });
        relay.CommittedWaiting.Should().Be(2);
        var first = (await host.OutboxAsync()).First();
        await host.InScopeAsync(db => db.Database.ExecuteSqlAsync(
            $"UPDATE outbox_messages SET lease_owner = 'another-relay#1', lease_expires_at = now() - interval '1 second' WHERE id = {first.Id}"));

        // The other relay records the first row's failed send (its mark checks only that it is still the lease's owner),
        // and has not committed when this relay leases the rows it was handed.
        await using var other = new NpgsqlConnection(host.Database.ConnectionString);
        await other.OpenAsync();
        await using var transaction = await other.BeginTransactionAsync();
        await using (var markFailed = new NpgsqlCommand(
            "UPDATE outbox_messages SET attempts = 1, next_attempt_at = now() + interval '1 hour', last_error = 'nacked', lease_owner = NULL, lease_expires_at = NULL " +
            "WHERE id = @id AND lease_owner = 'another-relay#1'", other, transaction))
        {
            markFailed.Parameters.AddWithValue("id", first.Id);
            (await markFailed.ExecuteNonQueryAsync()).Should().Be(1);
        }

        var leasing = relay.RunOnceAsync(CancellationToken.None, committedOnly: true);
        await WaitForLockWaitAsync(host.Database.ConnectionString);
        await transaction.CommitAsync();
        var result = await leasing.WaitAsync(TimeSpan.FromSeconds(30));

        // Judged on the snapshot from before the mark, the first row is leased with the second and goes first, as a claim
        // over the table would send it. It must never be left out while the second goes.
        var rows = await host.OutboxAsync();
        transport.Sent.Select(e => e.Id).Should().Equal([rows[0].Id, rows[1].Id], "a key's rows go in order");
        result.Processed.Should().Be(2);
        rows.Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed && r.LeaseOwner == null);
    }

    /// <summary>Waits until a statement waits for a row lock: this relay's lease, held up by the other relay's open mark.</summary>
    private static async Task WaitForLockWaitAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var until = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < until)
        {
            await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", connection);
            if ((long)(await command.ExecuteScalarAsync())! > 0)
            {
                return;
            }

            await Task.Delay(20);
        }

        Assert.Fail("The relay's lease never waited for the other relay's mark.");
    }
}
