namespace DomainEvents.EntityFrameworkCore.Draining;

/// <summary>How far <see cref="IOutboxDrain.DrainAsync"/> follows the rows it waits for.</summary>
public enum OutboxDrainUntil
{
    /// <summary>Until the transport confirmed each row and the relay marked it processed.</summary>
    Confirmed,

    /// <summary>
    /// Also until every consumer in this host whose binding matches a row has handled it (its inbox transaction, if
    /// any, committed). Needs an <see cref="IOutboxConsumptionWatcher"/>, such as the one <c>AddIntegrationEventDrain()</c>
    /// of DomainEvents.MassTransit registers.
    /// </summary>
    Consumed,
}
