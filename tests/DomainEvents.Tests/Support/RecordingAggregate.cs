namespace DomainEvents.Tests.Support;

/// <summary>An aggregate that raises whatever event it is given.</summary>
public sealed class RecordingAggregate : AggregateRoot
{
    public void RaiseEvent(IDomainEvent domainEvent) => Raise(domainEvent);
}
