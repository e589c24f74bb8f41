namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>Where an outbox row is in its life.</summary>
public enum OutboxMessageStatus
{
    /// <summary>Waiting to be published (possibly after a failed attempt).</summary>
    Pending = 0,

    /// <summary>Published and confirmed by the broker.</summary>
    Processed = 1,

    /// <summary>Gave up after the maximum number of attempts, or rejected as permanently undeliverable.</summary>
    Dead = 2,
}
