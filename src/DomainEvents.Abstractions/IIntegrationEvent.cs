namespace DomainEvents;

/// <summary>
/// A domain event that also leaves the process: it is written to the outbox in the same transaction as
/// the aggregate and relayed to a message broker. In-process handlers see it too.
/// </summary>
public interface IIntegrationEvent : IDomainEvent;
