using System.Text.Json.Nodes;
using DomainEvents.Messaging;
using MassTransit;

namespace DomainEvents.MassTransit.Tests.Model;

/// <summary>Version 2 of <c>order.placed</c> (by the V2 suffix): it adds the currency.</summary>
public sealed record OrderPlacedV2(Guid OrderId, int Sequence, string Currency) : IIntegrationEvent;

/// <summary>Turns <c>order.placed</c> v1 into v2: orders placed before currencies existed were in euros.</summary>
public sealed class OrderPlacedV1ToV2 : IMessageUpcaster
{
    public string MessageType => "order.placed";

    public int FromVersion => 1;

    public int ToVersion => 2;

    public JsonNode Upcast(JsonNode payload)
    {
        payload["currency"] = "EUR";
        return payload;
    }
}

/// <summary>Handles both versions side by side, one Consume per version.</summary>
public sealed class BothVersionsConsumer(Deliveries deliveries) : IConsumer<OrderPlaced>, IConsumer<OrderPlacedV2>
{
    public Task Consume(ConsumeContext<OrderPlaced> context)
    {
        deliveries.Add(new Delivery(nameof(BothVersionsConsumer), context.Message, context.GetIntegrationEventEnvelope(), context.RoutingKey()));
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<OrderPlacedV2> context)
    {
        deliveries.Add(new Delivery(nameof(BothVersionsConsumer), context.Message, context.GetIntegrationEventEnvelope(), context.RoutingKey()));
        return Task.CompletedTask;
    }
}

/// <summary>Knows version 2 only; older messages reach it through an upcaster.</summary>
public sealed class LatestVersionConsumer(Deliveries deliveries) : IConsumer<OrderPlacedV2>
{
    public Task Consume(ConsumeContext<OrderPlacedV2> context)
    {
        deliveries.Add(new Delivery(nameof(LatestVersionConsumer), context.Message, context.GetIntegrationEventEnvelope(), context.RoutingKey()));
        return Task.CompletedTask;
    }
}
