using DomainEvents;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.MassTransit;
using DomainEvents.MassTransit.Configuration;
using DomainEvents.MassTransit.Relay;
using MassTransit;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the outbox relay that publishes through MassTransit.</summary>
public static class MassTransitRelayExtensions
{
    /// <summary>
    /// Adds the relay as a hosted service that publishes outbox rows through the application's MassTransit
    /// bus, to each row's exchange with its routing key. Register MassTransit itself with <c>AddMassTransit</c>.
    /// </summary>
    /// <param name="builder">The builder returned by <c>AddDomainEvents(...).AddEntityFrameworkOutbox&lt;TContext&gt;()</c>.</param>
    /// <param name="configureRelay">Relay settings: batch size, retries, polling, retention.</param>
    /// <param name="configureTransport">
    /// Envelopes and exchange types, after those of the <c>DomainEvents</c> configuration section; the process's, so only
    /// the first call (with several contexts) may give them.
    /// </param>
    /// <returns>The builder, for chaining.</returns>
    public static DomainEventsBuilder AddMassTransitRelay(
        this DomainEventsBuilder builder,
        Action<OutboxRelayOptions>? configureRelay = null,
        Action<MassTransitRelayOptions>? configureTransport = null)
    {
        ArgumentNullException.ThrowIfNull(builder);

        // The transport is the process's bus: a second context's relay shares it, and its settings.
        if (builder.Services.Any(d => d.ServiceType == typeof(MassTransitRelayOptions)))
        {
            if (configureTransport is not null)
            {
                throw new InvalidOperationException(
                    "The MassTransit relay's transport settings (envelopes, exchange types) are the process's: give them to the first AddMassTransitRelay only; " +
                    "a later context's relay shares them (its relay settings, the first argument, are its own).");
            }
        }
        else
        {
            // Configuration first (the DomainEvents section's exchanges, message types and envelopes), then the code's settings.
            var options = new MassTransitRelayOptions();
            if (builder.Configuration is { } settings)
            {
                MassTransitSettings.ApplyTransport(settings.Section, options);
            }

            configureTransport?.Invoke(options);
            MassTransitSettings.ValidateTransport(builder.Configuration?.Section, options);
            builder.Services.AddSingleton(options);

            // Sees the broker refuse a relay's send (MassTransit itself only retries it), so a refusal counts as an attempt.
            builder.Services.TryAddSingleton<BrokerRefusals>();
            builder.Services.TryAddSingleton<ExchangeProbe>();
            builder.Services.TryAddSingleton<ConnectionBlocks>();
            builder.Services.TryAddSingleton<DomainEvents.EntityFrameworkCore.IBrokerTopology, DomainEvents.MassTransit.Consumers.MassTransitTopology>();
            builder.Services.AddSendObserver(provider => provider.GetRequiredService<BrokerRefusals>());
        }

        return builder.AddOutboxRelay<MassTransitOutboxTransport>(configureRelay);
    }
}
