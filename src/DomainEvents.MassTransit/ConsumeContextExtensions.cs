using DomainEvents.MassTransit.Consumers;
using global::MassTransit;

namespace DomainEvents.MassTransit;

/// <summary>Reads integration event metadata in a consumer.</summary>
public static class ConsumeContextExtensions
{
    /// <summary>Gets the envelope of the integration event being consumed: message id, exchange, routing key, partition key, version, time.</summary>
    /// <param name="context">The consume context.</param>
    /// <returns>The envelope.</returns>
    /// <exception cref="InvalidOperationException">The message did not arrive through an integration event endpoint.</exception>
    public static IntegrationEventEnvelope GetIntegrationEventEnvelope(this ConsumeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.TryGetPayload<IntegrationEventEnvelope>(out var envelope)
            ? envelope
            : throw new InvalidOperationException("This message did not arrive through an endpoint configured with ConfigureIntegrationEventEndpoints.");
    }
}
