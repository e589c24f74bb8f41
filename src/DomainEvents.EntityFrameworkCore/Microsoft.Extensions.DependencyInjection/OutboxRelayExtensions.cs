using DomainEvents;
using DomainEvents.EntityFrameworkCore.Monitoring;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the outbox relay with a transport of your choice.</summary>
public static class OutboxRelayExtensions
{
    /// <summary>
    /// Adds the relay as a hosted service for the outbox added by <c>AddEntityFrameworkOutbox</c>, sending
    /// through the registered <see cref="IOutboxTransport"/>. Transport packages call this for you.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Changes the relay settings.</param>
    /// <returns>The builder, for chaining.</returns>
    public static DomainEventsBuilder AddOutboxRelay(this DomainEventsBuilder builder, Action<OutboxRelayOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var contextType = builder.OutboxContextType
                          ?? throw new InvalidOperationException("Call AddEntityFrameworkOutbox<TContext>() before adding the relay.");
        var options = new OutboxRelayOptions();
        configure?.Invoke(options);
        options.Validate();
        builder.Services.AddSingleton(options);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<OutboxSignal>();
        builder.Services.AddDomainEventsHealthState();
        builder.Services.AddSingleton(typeof(IHostedService), typeof(OutboxRelay<>).MakeGenericType(contextType));
        builder.Services.AddSingleton(typeof(IHostedService), typeof(OutboxCleanupService<>).MakeGenericType(contextType));
        if (!builder.Services.Any(d => d.ImplementationType == typeof(OutboxBacklogMonitor<>).MakeGenericType(contextType)))
        {
            builder.Services.AddSingleton(typeof(IHostedService), typeof(OutboxBacklogMonitor<>).MakeGenericType(contextType));
        }
        return builder;
    }

    /// <summary>Adds the relay with a transport of your own.</summary>
    /// <typeparam name="TTransport">The transport.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Changes the relay settings.</param>
    /// <returns>The builder, for chaining.</returns>
    public static DomainEventsBuilder AddOutboxRelay<TTransport>(this DomainEventsBuilder builder, Action<OutboxRelayOptions>? configure = null)
        where TTransport : class, IOutboxTransport
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddSingleton<IOutboxTransport, TTransport>();
        return builder.AddOutboxRelay(configure);
    }
}
