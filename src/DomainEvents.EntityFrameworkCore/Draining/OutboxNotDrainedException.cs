using DomainEvents.Errors;

namespace DomainEvents.EntityFrameworkCore.Draining;

/// <summary>Thrown by <see cref="IOutboxDrain.DrainAsync"/> when the outbox did not drain; the message lists each row still waiting.</summary>
public sealed class OutboxNotDrainedException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="reason">Why the drain ended: the timeout passed, or a row is dead.</param>
    /// <param name="waiting">Each row still waiting, described for a person.</param>
    public OutboxNotDrainedException(string reason, IReadOnlyList<string> waiting)
        : base(reason + Environment.NewLine + string.Join(Environment.NewLine, waiting.Select(w => "  " + w)))
    {
        Waiting = waiting;
    }

    /// <summary>Gets each row still waiting: its id, message id and type, destination, status, attempts, last error, and the consumers awaited.</summary>
    public IReadOnlyList<string> Waiting { get; }
}
