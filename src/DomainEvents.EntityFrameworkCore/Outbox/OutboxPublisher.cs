using DomainEvents.EntityFrameworkCore.Interception;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>Adds rows to the scope's <typeparamref name="TContext"/> and tells its interceptor about them.</summary>
internal sealed class OutboxPublisher<TContext> : IOutboxPublisher<TContext>
    where TContext : DbContext
{
    private readonly TContext _context;
    private readonly OutboxMessageFactory _factory;
    private readonly DomainEventsInterceptor _interceptor;

    public OutboxPublisher(TContext context, OutboxMessageFactory factory, DomainEventsInterceptor interceptor)
    {
        _context = context;
        _factory = factory;
        _interceptor = interceptor;
    }

    public Guid Publish(IIntegrationEvent integrationEvent, string? partitionKey = null, string? exchange = null)
    {
        ArgumentNullException.ThrowIfNull(integrationEvent);
        return Add(_factory.Create(integrationEvent, partitionKey, exchange, _interceptor.Enrichers));
    }

    public Guid Publish(string exchange, string messageType, object payload, string partitionKey, int version = 1, string? routingKey = null)
    {
        ArgumentNullException.ThrowIfNull(payload);
        return Add(_factory.Create(exchange, messageType, version, routingKey ?? messageType, partitionKey, payload, correlationId: null, _interceptor.Enrichers));
    }

    private Guid Add(OutboxMessage row)
    {
        OutboxNotMappedException.ThrowIfNotMapped(_context);

        _context.Add(row);
        _interceptor.TrackPublished(_context, row);
        return row.MessageId;
    }
}
