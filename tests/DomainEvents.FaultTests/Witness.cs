using System.Collections.Concurrent;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace DomainEvents.FaultTests;

/// <summary>
/// Counts what reaches the broker with a plain RabbitMQ client, none of our code: a durable queue bound to the whole
/// exchange, declared before the run, so it keeps what arrives while anything else is down.
/// </summary>
public sealed class Witness : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly IChannel _channel;
    private readonly string _queue;

    private Witness(IConnection connection, IChannel channel, string queue)
    {
        _connection = connection;
        _channel = channel;
        _queue = queue;
    }

    /// <summary>Every (account, sequence) in the order the broker delivered it, duplicates included.</summary>
    public ConcurrentQueue<(Guid Account, int Sequence)> Seen { get; } = new();

    public static async Task<Witness> StartAsync(Uri broker, string exchange, string queue)
    {
        var factory = new ConnectionFactory { Uri = broker, AutomaticRecoveryEnabled = true, TopologyRecoveryEnabled = true, NetworkRecoveryInterval = TimeSpan.FromSeconds(1) };
        var connection = await factory.CreateConnectionAsync("fault-witness");
        var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Topic, durable: true);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        await channel.QueueBindAsync(queue, exchange, "#");
        var witness = new Witness(connection, channel, queue);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            using (var body = JsonDocument.Parse(delivery.Body))
            {
                var message = body.RootElement.GetProperty("message");
                witness.Seen.Enqueue((message.GetProperty("accountId").GetGuid(), message.GetProperty("sequence").GetInt32()));
            }

            // Acknowledged after counting: a delivery cut off by a broker outage comes again instead of being lost to the count.
            await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false);
        };
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
        return witness;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _channel.QueueDeleteAsync(_queue);
        }
        catch (Exception)
        {
            // The broker may be the thing that failed; the queue is named per run.
        }

        await _channel.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
