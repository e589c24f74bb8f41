using System.Globalization;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// The PostgreSQL relay's statements hold numbers of their own (the advisory lock keys, negative for the default table
/// name): they are SQL in every culture, including those that write a minus sign as U+2212.
/// </summary>
[Category("Integration")]
public sealed class RelayStatementsInAnyCulture
{
    [Test]
    public async Task A_relay_built_in_a_culture_with_another_minus_sign_claims_leases_and_cleans_up()
    {
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql);
        await host.InScopeAsync(async db =>
        {
            db.Set<OutboxMessage>().AddRange(RelayingThroughYourOwnTransport.Row("Key/1", 0, DateTime.UtcNow), RelayingThroughYourOwnTransport.Row("Key/2", 0, DateTime.UtcNow));
            await db.SaveChangesAsync();
        });
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrderingDbContext>();
        var connection = db.Database.GetDbConnection();
        await connection.OpenAsync();

        var swedish = new CultureInfo("sv-SE");
        swedish.NumberFormat.NegativeSign.Should().Be("\u2212", "this test needs a culture whose minus sign is not '-' (ICU's Swedish)");
        var before = CultureInfo.CurrentCulture;
        PostgresRelayStatements statements;
        try
        {
            CultureInfo.CurrentCulture = swedish;
            statements = new PostgresRelayStatements(db);
        }
        finally
        {
            CultureInfo.CurrentCulture = before;
        }

        var request = new OutboxClaimRequest("relay#1", "relay#", BatchSize: 1, DateTime.UtcNow, TimeSpan.FromMinutes(1));
        var claimed = (await statements.ClaimAsync(connection, request, CancellationToken.None)).Rows.Should().ContainSingle().Subject;
        var second = (await host.OutboxAsync()).Single(r => r.Id != claimed.Id);
        (await statements.ClaimCommittedAsync(connection, request with { Owner = "relay#2" }, [new OutboxEnvelope(second.Id, second.MessageId, second.MessageType, second.Version, second.Exchange, second.RoutingKey, second.PartitionKey, second.Payload, second.Headers, second.OccurredAt, second.Attempts)], CancellationToken.None)).Should().ContainSingle();
        (await statements.MarkProcessedAsync(connection, "relay#1", [claimed.Id], DateTime.UtcNow, CancellationToken.None)).Should().Be(1);
        (await statements.DeleteProcessedAsync(connection, DateTime.UtcNow.AddMinutes(1), 10, CancellationToken.None)).Should().Be(1, "the processed row is deleted");
    }
}
