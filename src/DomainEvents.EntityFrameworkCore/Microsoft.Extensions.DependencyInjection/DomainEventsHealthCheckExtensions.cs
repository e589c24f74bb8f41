using Microsoft.Extensions.DependencyInjection.Extensions;
using DomainEvents.EntityFrameworkCore.Monitoring;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Health checks for the outbox, the relays, the LISTEN connection, the inbox consumers and the inbox clean-up.</summary>
public static class DomainEventsHealthCheckExtensions
{
    /// <summary>The check of the outbox's lag and dead rows.</summary>
    public const string OutboxCheck = "domainevents-outbox";

    /// <summary>The check of this process's relays: running, claiming, and not in a transport outage.</summary>
    public const string RelayCheck = "domainevents-relay";

    /// <summary>The check of this process's PostgreSQL LISTEN connections (degraded while reconnecting: relays then poll).</summary>
    public const string NotificationsCheck = "domainevents-notifications";

    /// <summary>
    /// The check of this process's inbox consumers that keep order: degraded while one holds a message until its database
    /// answers (the next messages of the key wait behind it).
    /// </summary>
    public const string InboxCheck = "domainevents-inbox";

    /// <summary>The check of this process's inbox clean-up (degraded while it fails).</summary>
    public const string InboxCleanupCheck = "domainevents-inbox-cleanup";

    /// <summary>
    /// Adds five checks: <c>domainevents-outbox</c> (the oldest pending row's age against
    /// <see cref="DomainEventsHealthCheckOptions.DegradedLag"/> and <see cref="DomainEventsHealthCheckOptions.UnhealthyLag"/>,
    /// and dead rows), <c>domainevents-relay</c>, <c>domainevents-notifications</c>, <c>domainevents-inbox</c> and
    /// <c>domainevents-inbox-cleanup</c>. A check whose parts do not run in this process is healthy and says so. The tags
    /// apply to all five; select checks by name (the constants of this class) to put them on different probes.
    /// </summary>
    /// <param name="builder">The builder from <c>services.AddHealthChecks()</c>.</param>
    /// <param name="configure">Changes thresholds and tags.</param>
    /// <returns>The builder, for chaining.</returns>
    public static IHealthChecksBuilder AddDomainEventsHealthChecks(this IHealthChecksBuilder builder, Action<DomainEventsHealthCheckOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new DomainEventsHealthCheckOptions();
        configure?.Invoke(options);
        options.Validate();
        builder.Services.AddDomainEventsHealthReporter();
        // One instance for the application, so that its reading is reused between probes (the health check service
        // calls a registration's factory on every run).
        builder.Services.AddSingleton(sp => new OutboxHealthCheck(sp.GetRequiredService<IServiceScopeFactory>(), options, sp.GetService<TimeProvider>() ?? TimeProvider.System));
        builder.Add(new HealthCheckRegistration(OutboxCheck, sp => sp.GetRequiredService<OutboxHealthCheck>(), HealthStatus.Unhealthy, options.Tags));
        builder.Add(Components(RelayCheck, DomainEventsHealth.Relay, "No relay runs in this process.", options));
        builder.Add(Components(NotificationsCheck, DomainEventsHealth.Notifications, "No LISTEN connection in this process.", options));
        builder.Add(Components(InboxCheck, DomainEventsHealth.InboxConsumers, "No inbox consumer that keeps order in this process.", options));
        builder.Add(Components(InboxCleanupCheck, DomainEventsHealth.InboxCleanup, "No inbox clean-up in this process.", options));
        return builder;
    }

    /// <summary>
    /// Registers <see cref="DomainEvents.EntityFrameworkCore.Monitoring.IDomainEventsHealthReporter"/>, once: the state the
    /// long-running parts report to. The outbox, the relay and the consumers register it with themselves, so it is there
    /// with or without health checks; a transport or a provider of its own calls this for the parts it adds. The reporter is
    /// the one the health checks read: resolve it, do not register one of your own in its place.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <returns>The same collection.</returns>
    public static IServiceCollection AddDomainEventsHealthReporter(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (!services.Any(d => d.ServiceType == typeof(DomainEventsHealth)))
        {
            services.AddSingleton(sp => new DomainEventsHealth(sp.GetService<TimeProvider>() ?? TimeProvider.System));
            // The health checks read this instance: a reporter registered in its place would leave them blind.
            services.TryAddSingleton<DomainEvents.EntityFrameworkCore.Monitoring.IDomainEventsHealthReporter>(sp => sp.GetRequiredService<DomainEventsHealth>());
        }

        return services;
    }

    private static HealthCheckRegistration Components(string name, string kind, string none, DomainEventsHealthCheckOptions options) =>
        new(name, sp => new ComponentsHealthCheck(sp.GetRequiredService<DomainEventsHealth>(), kind, none), HealthStatus.Unhealthy, options.Tags);
}
