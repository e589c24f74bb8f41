using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>A confirmed message whose "processed" mark is lost would be sent again when its lease runs out.</summary>
[Category("Integration")]
public sealed class RetryingTheRelaysBookkeeping
{
    [Test]
    public async Task A_mark_that_fails_once_is_retried_so_confirmed_rows_are_not_sent_again()
    {
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql);
        // The first UPDATE that marks a row processed fails, as a dropped connection would; a sequence is not rolled back.
        await host.InScopeAsync(db => db.Database.ExecuteSqlRawAsync("""
            CREATE SEQUENCE fail_mark;
            CREATE FUNCTION fail_first_mark() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.status = 1 AND OLD.status = 0 AND nextval('fail_mark') = 1 THEN
                    RAISE EXCEPTION 'injected: the connection dropped';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER fail_first_mark BEFORE UPDATE ON outbox_messages FOR EACH ROW EXECUTE FUNCTION fail_first_mark();
            """));
        var sent = new List<OutboxEnvelope>();
        var transport = new RecordingTransport(sent);
        using var relay = new OutboxRelay<OrderingDbContext>(host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), transport, new OutboxRelayOptions(), TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);
        await host.InScopeAsync(async db =>
        {
            db.Orders.Add(Order.Place("c1", 1m));
            await db.SaveChangesAsync();
        });

        (await relay.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(1);

        (await host.InScopeAsync(db => db.Database.SqlQueryRaw<long>("SELECT last_value AS \"Value\" FROM fail_mark").SingleAsync())).Should().BeGreaterThan(1, "the first mark failed and a second one ran");
        (await host.OutboxAsync()).Should().ContainSingle().Which.Status.Should().Be(OutboxMessageStatus.Processed);
        (await relay.RunOnceAsync(CancellationToken.None)).Claimed.Should().Be(0);
        sent.Should().ContainSingle("the confirmed message is not sent again");
    }

    private sealed class RecordingTransport(List<OutboxEnvelope> sent) : IOutboxTransport
    {
        public Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken)
        {
            lock (sent)
            {
                sent.Add(envelope);
            }

            return Task.CompletedTask;
        }
    }
}
