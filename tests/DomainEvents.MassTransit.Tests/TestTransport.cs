namespace DomainEvents.MassTransit.Tests;

public enum TestTransport
{
    InMemory,
    RabbitMq,
}
