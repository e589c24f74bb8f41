using DomainEvents;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.PostgreSql;
using Microsoft.Extensions.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the PostgreSQL wake-up across processes.</summary>
public static class PostgresNotificationExtensions
{
    /// <summary>
    /// After each commit that wrote outbox rows, sends <c>NOTIFY</c> (unless a relay of this process runs on that outbox
    /// and takes the rows itself); and, where a relay runs, keeps a connection that <c>LISTEN</c>s and wakes it at once.
    /// Polling stays as the fallback. Use it in writers and relays alike.
    /// </summary>
    /// <param name="builder">The builder, after <c>AddEntityFrameworkOutbox&lt;TContext&gt;()</c>.</param>
    /// <param name="configure">Changes the channel, or turns listening or notifying off for this process.</param>
    /// <returns>The builder, for chaining.</returns>
    public static DomainEventsBuilder AddPostgresNotifications(this DomainEventsBuilder builder, Action<PostgresNotificationOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var contextType = builder.OutboxContextType
                          ?? throw new InvalidOperationException("Call AddEntityFrameworkOutbox<TContext>() before AddPostgresNotifications().");
        var options = new PostgresNotificationOptions();
        configure?.Invoke(options);
        options.Validate();
        if (options.Notify)
        {
            builder.Services.AddSingleton<IOutboxCommitNotifier>(sp => new PostgresOutboxCommitNotifier(options, sp.GetRequiredService<IOutboxWakeUp>(), contextType));
        }

        if (options.Listen)
        {
            var listener = typeof(PostgresOutboxListener<>).MakeGenericType(contextType);
            builder.Services.AddSingleton(sp => (IHostedService)ActivatorUtilities.CreateInstance(sp, listener, options));
        }

        return builder;
    }
}
