using DomainEvents.EntityFrameworkCore;
using DomainEvents.Messaging;
using global::MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// The topology of this host as the relay and the consumers declare it: exchanges of the registered integration events
/// (those that name one; the others take the raising aggregate's name at run time) and of the consumers' bindings, and
/// one queue per integration event consumer.
/// </summary>
internal sealed class MassTransitTopology(IServiceProvider services) : IBrokerTopology
{
    public BrokerTopologyDescription Describe()
    {
        var relay = services.GetService<MassTransitRelayOptions>();
        var registry = services.GetService<MessageTypeRegistry>();
        var exchanges = new Dictionary<string, TopologyExchange>(StringComparer.Ordinal);
        if (relay is not null && registry is not null)
        {
            foreach (var descriptor in registry.Descriptors.Where(d => d.Exchange is not null).OrderBy(d => d.Exchange, StringComparer.Ordinal))
            {
                exchanges.TryAdd(descriptor.Exchange!, new TopologyExchange(descriptor.Exchange!, relay.ExchangeTypeOf(descriptor.Exchange!), "published by the relay"));
            }
        }

        var queues = new List<TopologyQueue>();
        foreach (var registration in services.GetServices<IntegrationEventConsumerRegistration>())
        {
            var options = registration.Options;
            foreach (var (exchange, _) in options.Bindings)
            {
                exchanges.TryAdd(exchange, new TopologyExchange(exchange, options.ExchangeType, "bound by a consumer"));
            }

            queues.Add(new TopologyQueue(
                options.QueueName ?? IntegrationEventConsumerRegistrationExtensions.DefaultQueueName(registration.ConsumerType),
                registration.ConsumerType.Name,
                [.. options.Bindings.Select(b => new TopologyBinding(b.Exchange, b.Pattern))],
                options.KeepOrder,
                options.InboxContextType is not null));
        }

        return new BrokerTopologyDescription([.. exchanges.Values.OrderBy(e => e.Name, StringComparer.Ordinal)], queues);
    }
}
