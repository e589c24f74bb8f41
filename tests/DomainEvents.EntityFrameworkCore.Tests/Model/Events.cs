namespace DomainEvents.EntityFrameworkCore.Tests.Model;

public sealed record OrderPlaced(Guid OrderId, decimal Total) : IIntegrationEvent;

public sealed record OrderNoteAdded(Guid OrderId, string Note) : IDomainEvent;

public sealed record OrderPaid(Guid OrderId) : IDomainEvent;

public sealed record OrderShipped(Guid OrderId) : IIntegrationEvent;

[IntegrationEvent("sales.order-cancelled", Version = 3, Exchange = "sales", RoutingKey = "sales.order.cancelled")]
public sealed record OrderCancelled(Guid OrderId, string Reason) : IIntegrationEvent;

public sealed record Ping(Guid OrderId, int Round) : IDomainEvent;

public sealed record Pong(Guid OrderId, int Round) : IDomainEvent;

/// <summary>System.Text.Json cannot serialize a Type: a bad input case.</summary>
public sealed record OrderWithUnserializableField(Guid OrderId, Type Field) : IIntegrationEvent;

public sealed record OrderWithLargePayload(Guid OrderId, string Blob) : IIntegrationEvent;

[IntegrationEvent(Exchange = "amq.orders")]
public sealed record OrderWithReservedExchange(Guid OrderId) : IIntegrationEvent;

[IntegrationEvent(RoutingKey = LongKey.Value)]
public sealed record OrderWithLongRoutingKey(Guid OrderId) : IIntegrationEvent;

public static class LongKey
{
    private const string Ten = "abcdefghij";
    private const string Hundred = Ten + Ten + Ten + Ten + Ten + Ten + Ten + Ten + Ten + Ten;
    public const string Value = Hundred + Hundred + Hundred;
}
