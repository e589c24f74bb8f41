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
                registration.Queue,
                registration.Name,
                [.. options.Bindings.Select(b => new TopologyBinding(b.Exchange, b.Pattern))],
                options.KeepOrder,
                options.InboxContextType is not null));
        }

        return new BrokerTopologyDescription([.. exchanges.Values.OrderBy(e => e.Name, StringComparer.Ordinal)], queues);
    }

    public async Task ApplyAsync(CancellationToken cancellationToken)
    {
        // MassTransit declares the consumers' queues, exchanges and bindings itself, as it would at start: the bus starts
        // with every receive endpoint in its deploy-only mode (which consumes nothing) and stops again.
        IBusControl bus;
        try
        {
            bus = services.GetRequiredService<IBusControl>();
        }
        catch (Exception ex)
        {
            var inner = ex;
            while (inner.InnerException is not null)
            {
                inner = inner.InnerException;
            }

            throw new TopologyNotAppliedException($"the bus could not be built: {inner.Message}", ex);
        }

        // Only ConfigureIntegrationEventEndpoints puts the endpoints in deploy-only mode: a bus built without it would consume.
        if (services.GetService<HostRole>() is not { Consulted: true, DeploysTopologyOnly: true })
        {
            throw new TopologyNotAppliedException("the bus is not configured with ConfigureIntegrationEventEndpoints, so its endpoints would consume; call it in UsingRabbitMq.");
        }

        var probe = services.GetService<Relay.ExchangeProbe>() ?? new Relay.ExchangeProbe(services, bus);
        if (!probe.CanProbe)
        {
            throw new TopologyNotAppliedException("the bus does not run on RabbitMQ: there is no broker topology to declare.");
        }

        await bus.StartAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // The exchanges only the relay publishes to are declared as the relay declares them before its first send.
            foreach (var exchange in Describe().Exchanges)
            {
                await probe.DeclareAsync(exchange.Name, exchange.Type, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            await bus.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }
}
