using DomainEvents;
using MassTransit;

#pragma warning disable CA1050 // Declared outside a namespace on purpose: such a contract is what registration must refuse.

/// <summary>A contract written as a README snippet once showed it: without a namespace.</summary>
public sealed record NamespacelessPlaced(Guid OrderId) : IIntegrationEvent;

/// <summary>A consumer of it.</summary>
public sealed class NamespacelessConsumer : IConsumer<NamespacelessPlaced>
{
    public Task Consume(ConsumeContext<NamespacelessPlaced> context) => Task.CompletedTask;
}
