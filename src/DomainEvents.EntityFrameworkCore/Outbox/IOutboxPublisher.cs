using DomainEvents.Errors;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>
/// Publishes integration events that no aggregate raised (from an application service, a job, or a consumer) through
/// the outbox of <typeparamref name="TContext"/>. Each call adds a row to the context's unit of work: it commits with the
/// next <c>SaveChangesAsync</c> of that context (inside the caller's transaction, if there is one) or not at all. In a
/// consumer that uses the inbox, the inbox row, the consumer's changes and these rows commit together, so a redelivered
/// message publishes nothing twice. Events published here do not go to in-process handlers. Resolve it from the same
/// scope as the context; it is registered by <c>AddEntityFrameworkOutbox&lt;TContext&gt;()</c>.
/// </summary>
/// <typeparam name="TContext">The DbContext whose outbox the events go to.</typeparam>
public interface IOutboxPublisher<TContext>
    where TContext : DbContext
{
    /// <summary>
    /// Adds a typed integration event. Its message type, version and routing key come from the registry as for events of
    /// aggregates; the exchange and partition key, which an aggregate would have given, come from the arguments or the event.
    /// </summary>
    /// <param name="integrationEvent">The event.</param>
    /// <param name="partitionKey">Events of one key are published in order; <see langword="null"/> takes the event's <see cref="IHasPartitionKey"/>.</param>
    /// <param name="exchange">The exchange; <see langword="null"/> takes the one the event type names.</param>
    /// <returns>The message id of the row.</returns>
    /// <exception cref="InvalidRoutingException">No exchange or partition key is known, or one a broker would refuse is given.</exception>
    /// <exception cref="InvalidOutboxHeaderException">A header enricher set a header that cannot be stored.</exception>
    Guid Publish(IIntegrationEvent integrationEvent, string? partitionKey = null, string? exchange = null);

    /// <summary>
    /// Adds an event by name, with no event class: the payload is serialized with the configured JSON options (pass a
    /// <c>JsonElement</c> or <c>JsonNode</c> to store JSON as it is). The routing key defaults to the message type.
    /// </summary>
    /// <param name="exchange">The exchange, for example the aggregate's name: <c>user</c>.</param>
    /// <param name="messageType">The message type name, for example <c>user.updated</c>.</param>
    /// <param name="payload">The event's data.</param>
    /// <param name="partitionKey">Events of one key are published in order, for example <c>user/42</c>.</param>
    /// <param name="version">The schema version (default 1).</param>
    /// <param name="routingKey">The routing key; <see langword="null"/> uses the message type.</param>
    /// <returns>The message id of the row.</returns>
    /// <exception cref="InvalidRoutingException">A name a broker would refuse, an empty partition key or a version below 1.</exception>
    /// <exception cref="EventSerializationException">The payload cannot be serialized.</exception>
    /// <exception cref="MessagePayloadTooLargeException">The payload is over <c>DomainEventsOptions.MaxPayloadBytes</c>.</exception>
    Guid Publish(string exchange, string messageType, object payload, string partitionKey, int version = 1, string? routingKey = null);
}
