namespace DomainEvents.Tests.Support;

/// <summary>A value-equal domain event for the aggregate tests: two instances with the same text are equal records.</summary>
public sealed record Noted(string Text) : IDomainEvent;
