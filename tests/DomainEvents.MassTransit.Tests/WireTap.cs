using System.Collections.Concurrent;
using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace DomainEvents.MassTransit.Tests;

/// <summary>One message as RabbitMQ delivered it: what a consumer in any language sees.</summary>
public sealed record TappedMessage(string Exchange, string RoutingKey, IReadOnlyBasicProperties Properties, byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);

    public string? Header(string name) =>
        Properties.Headers is { } headers && headers.TryGetValue(name, out var value) ? TextOf(value) : null;

    public static string? TextOf(object? value) => value switch
    {
        null => null,
        byte[] bytes => Encoding.UTF8.GetString(bytes),
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>The message as a reader would dump it: properties, headers in order, and the body.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.AppendLine($"exchange:      {Exchange}");
        text.AppendLine($"routing key:   {RoutingKey}");
        text.AppendLine($"content-type:  {Properties.ContentType}");
        text.AppendLine($"message-id:    {Properties.MessageId}");
        text.AppendLine($"delivery-mode: {(int)Properties.DeliveryMode}");
        text.AppendLine("headers:");
        foreach (var (name, value) in Properties.Headers ?? new Dictionary<string, object?>())
        {
            text.AppendLine($"  {name}: {TextOf(value)}");
        }

        text.AppendLine($"body ({Body.Length} bytes):");
        text.AppendLine(BodyText);
        return text.ToString();
    }
}

/// <summary>A server-named queue bound to an exchange with raw RabbitMQ.Client: it records every message routed to it.</summary>
public sealed class WireTap : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _channel;
    private readonly ConcurrentQueue<TappedMessage> _messages = new();
    private readonly SemaphoreSlim _arrived = new(0);

    private WireTap(IConnection connection, IChannel channel)
    {
        _connection = connection;
        _channel = channel;
    }

    public IReadOnlyList<TappedMessage> Messages => [.. _messages];

    /// <summary>Declares the exchange as MassTransit does (durable topic), so the tap can be bound before the first publish.</summary>
    public static async Task<WireTap> StartAsync(string exchange, params string[] routingKeys)
    {
        var connection = await RabbitMqAdmin.ConnectAsync();
        var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Topic, durable: true, autoDelete: false);
        var queue = await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true);
        foreach (var key in routingKeys)
        {
            await channel.QueueBindAsync(queue.QueueName, exchange, key);
        }

        var tap = new WireTap(connection, channel);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            tap._messages.Enqueue(new TappedMessage(delivery.Exchange, delivery.RoutingKey, new BasicProperties(delivery.BasicProperties), delivery.Body.ToArray()));
            tap._arrived.Release();
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(queue.QueueName, autoAck: true, consumer);
        return tap;
    }

    public async Task<IReadOnlyList<TappedMessage>> WaitForAsync(int count, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        while (_messages.Count < count)
        {
            try
            {
                await _arrived.WaitAsync(TimeSpan.FromMilliseconds(200), cts.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"Timed out waiting for {count} messages on the wire tap; got {_messages.Count}.");
            }
        }

        return Messages;
    }

    public async ValueTask DisposeAsync()
    {
        await _channel.CloseAsync();
        await _connection.CloseAsync();
        _channel.Dispose();
        _connection.Dispose();
    }

    /// <summary>How many messages wait in a queue; 0 when the queue does not exist.</summary>
    public static async Task<uint> DepthAsync(string queue)
    {
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
        }
        catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
        {
            return 0;
        }
    }

    /// <summary>Takes every message waiting in a queue (acknowledging them).</summary>
    public static async Task<IReadOnlyList<TappedMessage>> DrainAsync(string queue, int expected, TimeSpan? timeout = null)
    {
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        var messages = new List<TappedMessage>();
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (messages.Count < expected && DateTime.UtcNow < until)
        {
            BasicGetResult? message;
            try
            {
                message = await channel.BasicGetAsync(queue, autoAck: true);
            }
            catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
            {
                await channel.DisposeAsync();
                return await DrainAfterQueueExistsAsync(queue, expected, until);
            }

            if (message is null)
            {
                await Task.Delay(100);
                continue;
            }

            messages.Add(new TappedMessage(message.Exchange, message.RoutingKey, message.BasicProperties, message.Body.ToArray()));
        }

        return messages;
    }

    private static async Task<IReadOnlyList<TappedMessage>> DrainAfterQueueExistsAsync(string queue, int expected, DateTime until)
    {
        while (DateTime.UtcNow < until)
        {
            await Task.Delay(200);
            if (await QueueExistsAsync(queue))
            {
                return await DrainAsync(queue, expected, until - DateTime.UtcNow);
            }
        }

        return [];
    }

    private static async Task<bool> QueueExistsAsync(string queue)
    {
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            await channel.QueueDeclarePassiveAsync(queue);
            return true;
        }
        catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
        {
            return false;
        }
    }
}
