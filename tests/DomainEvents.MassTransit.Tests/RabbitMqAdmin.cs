using DomainEvents.Testing;
using RabbitMQ.Client;

namespace DomainEvents.MassTransit.Tests;

/// <summary>Talks to the test broker directly with RabbitMQ.Client, as a foreign publisher or an operator would.</summary>
public static class RabbitMqAdmin
{
    public static async Task<IConnection> ConnectAsync() =>
        await new ConnectionFactory { Uri = TestServers.RabbitMqUri }.CreateConnectionAsync();

    public static async Task DeleteQueuesAsync(params string[] queues)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        foreach (var queue in queues)
        {
            foreach (var name in new[] { queue, queue + "_error", queue + "_skipped" })
            {
                await channel.QueueDeleteAsync(name, ifUnused: false, ifEmpty: false);
            }
        }
    }
}
