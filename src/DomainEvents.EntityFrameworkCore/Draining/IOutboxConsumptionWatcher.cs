using DomainEvents.EntityFrameworkCore.Outbox;

namespace DomainEvents.EntityFrameworkCore.Draining;

/// <summary>
/// Sees which published rows the consumers of this host have handled, for <see cref="OutboxDrainUntil.Consumed"/>.
/// A transport package implements it; DomainEvents.MassTransit does with <c>AddIntegrationEventDrain()</c>.
/// </summary>
public interface IOutboxConsumptionWatcher
{
    /// <summary>
    /// Says which consumers of this host should handle the row and have not yet. An empty list means the row needs
    /// nothing more from this host: every consumer bound to it handled it, or none is bound to it.
    /// </summary>
    /// <param name="row">A row the relay has published.</param>
    /// <returns>The consumers still awaited, each described for a person (its name and, when it failed, its last error).</returns>
    IReadOnlyList<string> NotYetHandledBy(OutboxMessage row);
}
