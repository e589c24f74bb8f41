namespace DomainEvents.Tests.Support;

/// <summary>One handler invocation: which handler, and the event instance it received.</summary>
public sealed record HandlerCall(string Handler, object DomainEvent);
