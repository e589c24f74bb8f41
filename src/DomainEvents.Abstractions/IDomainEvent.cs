namespace DomainEvents;

/// <summary>
/// Marks something that happened in the domain. Raised by an aggregate and dispatched to in-process
/// handlers when the unit of work is saved. Events are usually sealed records named in the past tense.
/// </summary>
public interface IDomainEvent;
