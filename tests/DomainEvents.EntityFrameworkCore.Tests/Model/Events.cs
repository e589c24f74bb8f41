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

/// <summary>A milestone of an order, reached once however often it is raised.</summary>
public sealed record OrderMilestone(Guid OrderId, string Milestone) : IKeyedEvent
{
    public string EventKey => $"milestone:{OrderId}:{Milestone}";
}

/// <summary>A promotion code claimed once across all orders: an integration event with a key and a partition key of its own.</summary>
public sealed record PromotionClaimed(string Code, Guid OrderId) : IIntegrationEvent, IKeyedEvent, IHasPartitionKey
{
    public string EventKey => $"promotion:{Code}";

    public string PartitionKey => $"promotion/{Code}";
}

/// <summary>Yielded by the challenge source once a challenge has ended, on every save after that.</summary>
public sealed record ChallengeEnded(Guid ChallengeId) : IIntegrationEvent, IKeyedEvent
{
    public string EventKey => $"challenge-ended:{ChallengeId}";
}

/// <summary>Yielded by the challenge source on every save: no key, so handled every time.</summary>
public sealed record ChallengeSaved(Guid ChallengeId) : IDomainEvent;

public sealed record CouponSeen(string Code) : IDomainEvent;

/// <summary>A key no ledger accepts.</summary>
public sealed record BadlyKeyed(string Key) : IKeyedEvent
{
    public string EventKey => Key;
}

/// <summary>Names its own group, so handlers of "billing.#" receive it.</summary>
public sealed record InvoiceOverdue(Guid OrderId) : IGroupedEvent
{
    public string EventGroup => "billing.invoice.overdue";
}
