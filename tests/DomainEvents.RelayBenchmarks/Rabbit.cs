using System.Diagnostics;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace DomainEvents.RelayBenchmarks;

/// <summary>Raw RabbitMQ.Client helpers: confirmed publishing with a fixed number in flight, and queue depths.</summary>
public static class Rabbit
{
    public static CreateChannelOptions Confirms => new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);

    /// <summary>
    /// Publishes <paramref name="count"/> persistent messages with <paramref name="inFlight"/> awaiting their confirm at
    /// any time (RabbitMQ.Client 7 completes BasicPublishAsync when the broker confirms, with tracking on).
    /// </summary>
    public static async Task PublishAsync(IChannel channel, int count, int inFlight, Func<int, (string Exchange, string RoutingKey, BasicProperties Properties, byte[] Body)> message)
    {
        using var gate = new SemaphoreSlim(inFlight);
        var tasks = new Task[count];
        for (var i = 0; i < count; i++)
        {
            await gate.WaitAsync();
            tasks[i] = PublishOneAsync(message(i));
        }

        await Task.WhenAll(tasks);

        async Task PublishOneAsync((string Exchange, string RoutingKey, BasicProperties Properties, byte[] Body) m)
        {
            try
            {
                await channel.BasicPublishAsync(m.Exchange, m.RoutingKey, mandatory: false, m.Properties, m.Body);
            }
            finally
            {
                gate.Release();
            }
        }
    }

    /// <summary>Messages ready in a queue, or -1 when it does not exist (checked on a channel of its own, which the broker closes then).</summary>
    public static async Task<long> DepthAsync(IConnection connection, string queue)
    {
        try
        {
            await using var channel = await connection.CreateChannelAsync();
            var ok = await channel.QueueDeclarePassiveAsync(queue);
            return ok.MessageCount;
        }
        catch (OperationInterruptedException)
        {
            return -1;
        }
    }

    /// <summary>Waits until a queue holds <paramref name="expected"/> messages (the broker's count can lag the confirms a little).</summary>
    public static async Task<long> WaitForDepthAsync(IConnection connection, string queue, long expected, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        long depth;
        while ((depth = await DepthAsync(connection, queue)) != expected && clock.Elapsed < timeout)
        {
            await Task.Delay(100);
        }

        return depth;
    }
}
