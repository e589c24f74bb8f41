using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.PostgreSql;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>An interval longer than a timer can wait (about 49.7 days) is refused at registration, not in the running service.</summary>
public sealed class RefusingIntervalsTooLongToWait
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

    private static DomainEventsBuilder Builder()
    {
        var services = new ServiceCollection();
        services.AddDbContext<OrderingDbContext>(o => o.UseSqlite("Data Source=:memory:"));
        return services.AddDomainEvents().AddEntityFrameworkOutbox<OrderingDbContext>();
    }
}
