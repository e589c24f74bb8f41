using System.Collections.Concurrent;
using DomainEvents.MassTransit.Tests.Model;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// On the in-memory transport (the embedded default) there are no delivery tags to keep a key's order by: an endpoint that
/// keeps order takes one message at a time, whatever its parallelism, so nothing that runs before the consumer (a receive
/// observer, a slow first message) lets a later message of the key overtake an earlier one.
/// </summary>
public sealed class KeepingOrderInMemory
{
    [Test]
    public async Task An_endpoint_that_keeps_order_with_parallelism_hands_a_keys_messages_over_in_order_when_the_first_is_slow_to_arrive()
    {
        var received = new ConcurrentQueue<int>();
        await using var shop = await InMemoryShop.StartAsync(
            s => s.AddSingleton(received),
            (x, exchange) => x.AddIntegrationEventConsumer<SequenceConsumer>(c =>
            {
                c.Bind(exchange, "order.*");
                c.KeepOrder = true;
                c.Parallelism = 8;
            }),
            // Holds the first message before the receive pipe, as a slow observer or a busy thread would.
            cfg => cfg.ConnectReceiveObserver(new FirstHeldBack()));

        var order = Order.Place(1);
        for (var sequence = 2; sequence <= 5; sequence++)
        {
            order.PlaceAgain(sequence);
        }

        await shop.SaveAsync(order);

        await RelayingToConsumers.WaitForAsync(() => Task.FromResult(received.Count == 5), seconds: 20);
        received.Should().Equal([1, 2, 3, 4, 5], "the messages of one order are consumed in the order they were published");
    }

    public sealed class SequenceConsumer(ConcurrentQueue<int> received) : IConsumer<OrderPlaced>
    {
        public Task Consume(ConsumeContext<OrderPlaced> context)
        {
            received.Enqueue(context.Message.Sequence);
            return Task.CompletedTask;
        }
    }

    private sealed class FirstHeldBack : IReceiveObserver
    {
        private int _seen;

        public Task PreReceive(ReceiveContext context) =>
            Interlocked.Increment(ref _seen) == 1 ? Task.Delay(TimeSpan.FromMilliseconds(500)) : Task.CompletedTask;

        public Task PostReceive(ReceiveContext context) => Task.CompletedTask;

        public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType)
            where T : class => Task.CompletedTask;

        public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
            where T : class => Task.CompletedTask;

        public Task ReceiveFault(ReceiveContext context, Exception exception) => Task.CompletedTask;
    }
}
