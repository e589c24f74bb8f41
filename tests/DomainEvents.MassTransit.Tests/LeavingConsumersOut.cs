using DomainEvents.EntityFrameworkCore;
using DomainEvents.MassTransit.Tests.Model;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>A consumer that the host's role leaves out stays out, even when the bus also uses MassTransit's ConfigureEndpoints.</summary>
public sealed class LeavingConsumersOut
{
    [Test]
    public async Task ConfigureEndpoints_does_not_start_an_integration_event_consumer_that_the_relay_role_left_out()
    {
        var calls = new Calls();
        var services = new ServiceCollection();
        services.AddSingleton(calls);
        services.AddLogging();
        services.AddMassTransit(x =>
        {
            x.AddIntegrationEventConsumer<CountingConsumer>(c => c.Bind("orders-" + Guid.NewGuid().ToString("N")[..8], "order.*"));
            x.UsingInMemory((context, cfg) =>
            {
                cfg.ConfigureIntegrationEventEndpoints(context);
                cfg.ConfigureEndpoints(context);
            });
        });
        await using var provider = services.BuildServiceProvider();

        // As the relay command sets it before the bus is built.
        provider.GetRequiredService<HostRole>().RunsConsumers = false;
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync();
        try
        {
            // A typed publish reaches every endpoint ConfigureEndpoints made for the consumer's message type.
            await bus.Publish(new OrderPlaced(Guid.NewGuid(), 1));
            await Task.Delay(TimeSpan.FromSeconds(1));
            calls.Count.Should().Be(0, "the consumer's only endpoint is the one ConfigureIntegrationEventEndpoints did not make");
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    public sealed class Calls
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public void Add() => Interlocked.Increment(ref _count);
    }

    public sealed class CountingConsumer(Calls calls) : IConsumer<OrderPlaced>
    {
        public Task Consume(ConsumeContext<OrderPlaced> context)
        {
            calls.Add();
            return Task.CompletedTask;
        }
    }
}
