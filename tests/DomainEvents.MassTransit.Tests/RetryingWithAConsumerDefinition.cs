using DomainEvents.MassTransit.Tests.Model;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>An integration event consumer keeps MassTransit's own consumer definition and retry policy.</summary>
public sealed class RetryingWithAConsumerDefinition
{
    [Test]
    public async Task A_consumer_that_fails_twice_is_retried_by_its_definition_and_handles_the_event_once()
    {
        var deliveries = new Deliveries { FailuresToInject = 2 };
        await using var shop = await InMemoryShop.StartAsync(
            s => s.AddSingleton(deliveries),
            (x, exchange) => x.AddIntegrationEventConsumer<OrdersConsumer, RetryTwice>(c => c.Bind(exchange, "order.*")));

        await shop.SaveAsync(Order.Place(1));

        await deliveries.WaitUntilAsync(d => d.All.Count == 1);
        await Task.Delay(300);
        deliveries.All.Should().ContainSingle("two failures were retried in memory, then the consumer succeeded once");
        deliveries.FailuresToInject.Should().BeLessThan(0, "the consumer was called three times");
        RetryTwice.Applied.Should().BeTrue();
    }

    private sealed class RetryTwice : ConsumerDefinition<OrdersConsumer>
    {
        public static bool Applied { get; private set; }

        protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<OrdersConsumer> consumerConfigurator, IRegistrationContext context)
        {
            Applied = true;
            consumerConfigurator.UseMessageRetry(r => r.Immediate(2));
        }
    }
}
