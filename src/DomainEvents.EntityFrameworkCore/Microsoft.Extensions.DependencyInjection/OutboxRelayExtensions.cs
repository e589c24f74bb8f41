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
    /// Adds the relay as a hosted service for the outbox added by the last <c>AddEntityFrameworkOutbox</c>, sending
    /// through the registered <see cref="IOutboxTransport"/>. Transport packages call this for you. With several
    /// contexts, call it after each one's <c>AddEntityFrameworkOutbox</c>: each context gets its own relay, settings,
    /// clean-up and gauges, and a context that fails does not hold up another.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Changes the relay settings, after those of the <c>DomainEvents:Relay</c> configuration section.</param>
    /// <returns>The builder, for chaining.</returns>
    public static DomainEventsBuilder AddOutboxRelay(this DomainEventsBuilder builder, Action<OutboxRelayOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddOutboxRelay(configure, static sp => sp.GetRequiredService<IOutboxTransport>());
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
        builder.Services.TryAddSingleton<TTransport>();
        builder.Services.TryAddSingleton<IOutboxTransport>(sp => sp.GetRequiredService<TTransport>());
        var transport = new RelayTransport(typeof(TTransport));
        if (!builder.Services.Any(d => transport.Equals(d.ImplementationInstance)))
        {
            builder.Services.AddSingleton(transport);
        }

        // The relay sends through IOutboxTransport, so a test that replaces it takes every relay; only where it is another
        // relay's transport (a process relaying one context through MassTransit and another to an HTTP sink) does this
        // relay take its own.
        return builder.AddOutboxRelay(configure, static sp =>
        {
            var shared = sp.GetRequiredService<IOutboxTransport>();
            return shared is TTransport || !sp.GetServices<RelayTransport>().Any(t => t.Type.IsInstanceOfType(shared))
                ? shared
                : sp.GetRequiredService<TTransport>();
        });
    }

    private static DomainEventsBuilder AddOutboxRelay(this DomainEventsBuilder builder, Action<OutboxRelayOptions>? configure, Func<IServiceProvider, IOutboxTransport> transport)
    {
        var contextType = builder.OutboxContextType
                          ?? throw new InvalidOperationException("Call AddEntityFrameworkOutbox<TContext>() before adding the relay.");
        // Configuration first (DomainEvents:Relay, for every context's relay), then the code's settings.
        var options = new OutboxRelayOptions();
        var section = builder.Configuration?.Section.GetSection("Relay");
        if (section is not null)
        {
            DomainEventsConfiguration.Bind(section, options);
        }

        configure?.Invoke(options);
        DomainEventsConfiguration.Validate(section, options, options.Validate);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<OutboxSignal>();
        builder.Services.AddDomainEventsHealthReporter();

        // Each context's parts get that context's settings (and transport) by construction, not by a shared registration.
        var relay = typeof(OutboxRelay<>).MakeGenericType(contextType);
        builder.Services.AddSingleton(sp => (IHostedService)ActivatorUtilities.CreateInstance(sp, relay, options, transport(sp)));
        var relayed = new RelayedContext(contextType);
        if (!builder.Services.Any(d => relayed.Equals(d.ImplementationInstance)))
        {
            builder.Services.AddSingleton(relayed);
            var cleanup = typeof(OutboxCleanupService<>).MakeGenericType(contextType);
            var monitor = typeof(OutboxBacklogMonitor<>).MakeGenericType(contextType);
            builder.Services.AddSingleton(sp => (IHostedService)ActivatorUtilities.CreateInstance(sp, cleanup, options));
            builder.Services.AddSingleton(sp => (IHostedService)ActivatorUtilities.CreateInstance(sp, monitor, options));
        }

        return builder;
    }

    /// <summary>A transport type a relay of this process was added with.</summary>
    private sealed record RelayTransport(Type Type);

    /// <summary>Marks a context whose clean-up and gauges are registered: a second relay of the context does not repeat them.</summary>
    private sealed record RelayedContext(Type ContextType);
}
