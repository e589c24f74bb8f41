using System.Collections.Concurrent;
using DomainEvents.MassTransit.Tests.Model;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// A consumer that times out on a token of its own throws an <see cref="OperationCanceledException"/>. The receive pipe
/// returns any such exception to the queue at once, as it does when the endpoint stops: again and again, with the key's
/// next message overtaking it. MassTransit's consumer filter turns one that is not the message's own cancellation into
/// its <see cref="ConsumerCanceledException"/>, so the message fails like any other; this pins that, for the endpoints
/// this library configures (its receive filter, order filter and inbox around the consumer).
/// </summary>
public sealed class FailingOnAConsumersOwnTimeout : RabbitMqFixture
{
    [Test]
    public async Task A_consumer_that_times_out_on_a_token_of_its_own_fails_the_message_to_the_error_queue_once_and_its_key_goes_on()
    {
        var attempts = new TimeoutAttempts();
        var host = await StartAsync(relay: true, o =>
        {
            o.ConfigureServices = s => s.AddSingleton(attempts);
            o.Consumers.Add((typeof(TimingOutConsumer), c =>
            {
                c.Bind(Exchange, "order.*");
                c.QueueName = Queue("timing-out");
            }));
        });

        var order = Order.Place(1);
        order.PlaceAgain(2);
        await host.SaveAsync(order);

        var error = (await WireTap.DrainAsync(Queue("timing-out") + "_error", expected: 1)).Should().ContainSingle("the message failed, so it went to the error queue").Subject;
        error.Header("MT-Fault-ExceptionType").Should().Be(typeof(ConsumerCanceledException).FullName, "the error queue says why the message failed");
        error.Header("MT-Fault-Message").Should().Contain(nameof(TimingOutConsumer));
        await RelayingToConsumers.WaitForAsync(() => Task.FromResult(!attempts.Handled.IsEmpty));
        await Task.Delay(500);
        attempts.Handled.Should().Equal([2], "the key's next message was handled after the first one failed");
        Volatile.Read(ref attempts.TimedOut).Should().Be(1, "the message was tried once (the endpoint has no retries), not returned to the queue again and again");
    }

    public sealed class TimeoutAttempts
    {
        public int TimedOut;

        public ConcurrentQueue<int> Handled { get; } = new();
    }

    /// <summary>Times out on a token of its own, as an HTTP call with a timeout does, on the first event of an order.</summary>
    public sealed class TimingOutConsumer(TimeoutAttempts attempts) : IConsumer<OrderPlaced>
    {
        public async Task Consume(ConsumeContext<OrderPlaced> context)
        {
            if (context.Message.Sequence == 1)
            {
                Interlocked.Increment(ref attempts.TimedOut);
                using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(20));
                await Task.Delay(TimeSpan.FromSeconds(10), timeout.Token);
            }

            attempts.Handled.Enqueue(context.Message.Sequence);
        }
    }
}
