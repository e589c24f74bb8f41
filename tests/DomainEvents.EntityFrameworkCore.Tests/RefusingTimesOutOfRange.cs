using DomainEvents.EntityFrameworkCore.Backfill;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.PostgreSql;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// An interval longer than a timer can wait (about 49.7 days), or a span that would take a date past the calendar's end,
/// is refused when it is set, not in the running service.
/// </summary>
public sealed class RefusingTimesOutOfRange
{
    private static readonly TimeSpan TooLong = TimeSpan.FromDays(60);

    [Test]
    public void A_reconnect_delay_of_the_notification_listener_is_refused()
    {
        var act = () => Builder().AddPostgresNotifications(o => o.MaxReconnectDelay = TooLong);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(PostgresNotificationOptions.MaxReconnectDelay));
    }

    [Test]
    public void A_keep_alive_interval_of_the_notification_listener_is_refused()
    {
        var act = () => Builder().AddPostgresNotifications(o => o.KeepAliveInterval = TooLong);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(PostgresNotificationOptions.KeepAliveInterval));
    }

    [Test]
    public void The_interval_of_an_event_source_sweep_is_refused()
    {
        var act = () => Builder().AddEventSourceSweep<OrderingDbContext, Challenge>(TooLong);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("every");
    }

    [Test]
    public void The_longest_back_off_of_the_relay_is_refused()
    {
        var act = () => Builder().AddOutboxRelay(o => o.RetryMaxDelay = TooLong);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(OutboxRelayOptions.RetryMaxDelay));
    }

    [Test]
    public void A_negative_retention_of_processed_rows_is_refused()
    {
        var act = () => Builder().AddOutboxRelay(o => o.ProcessedRetention = TimeSpan.FromHours(-1));

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(OutboxRelayOptions.ProcessedRetention));
    }

    [Test]
    public async Task A_backfill_lease_is_refused_before_the_backfill_is_taken()
    {
        await using var host = await TestHost.StartAsync(DatabaseProvider.Sqlite);
        var backfill = host.Services.GetRequiredService<IEventSourceBackfill<OrderingDbContext>>();

        var run = () => backfill.RunAsync<Challenge>(new BackfillOptions { LeaseDuration = TimeSpan.MaxValue });

        (await run.Should().ThrowAsync<ArgumentOutOfRangeException>()).WithParameterName(nameof(BackfillOptions.LeaseDuration));
        (await host.InScopeAsync(db => db.Set<EventSourceCheckpoint>().CountAsync())).Should().Be(0);
    }

    [Test]
    public async Task A_retention_longer_than_the_calendar_reaches_back_keeps_every_processed_row()
    {
        await using var host = await TestHost.StartAsync(DatabaseProvider.Sqlite);
        var yearAgo = DateTime.UtcNow.AddYears(-1);
        await host.AddOutboxRowAsync("shop", OutboxMessageStatus.Processed, yearAgo);
        await host.InScopeAsync(db => db.Set<OutboxMessage>().ExecuteUpdateAsync(s => s.SetProperty(m => m.ProcessedAt, yearAgo)));

        await CleanUpAsync(host, TimeSpan.MaxValue);
        (await host.OutboxAsync()).Should().HaveCount(1);

        await CleanUpAsync(host, TimeSpan.FromDays(30));
        (await host.OutboxAsync()).Should().BeEmpty("a row processed a year ago is past a retention of 30 days");
    }

    private static Task CleanUpAsync(TestHost host, TimeSpan retention) =>
        new OutboxCleanupService<OrderingDbContext>(
                host.Services.GetRequiredService<IServiceScopeFactory>(),
                new OutboxRelayOptions { ProcessedRetention = retention },
                TimeProvider.System,
                NullLogger<OutboxCleanupService<OrderingDbContext>>.Instance)
            .CleanUpAsync(CancellationToken.None);

    private static DomainEventsBuilder Builder()
    {
        var services = new ServiceCollection();
        services.AddDbContext<OrderingDbContext>(o => o.UseSqlite("Data Source=:memory:"));
        return services.AddDomainEvents().AddEntityFrameworkOutbox<OrderingDbContext>();
    }
}
