using DomainEvents.EntityFrameworkCore.ChangeEvents;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Microsoft.EntityFrameworkCore;

/// <summary>Turns saves of an entity type into change events in the outbox, with no event class.</summary>
public static class PublishChangesExtensions
{
    /// <summary>
    /// Makes every <c>SaveChangesAsync</c> (or <c>SaveChanges</c>) that inserts, updates or deletes a
    /// <typeparamref name="TEntity"/> write a change event to the outbox in the same transaction. Call it once per
    /// destination. The event is written after the database has run the save's statements, so a key the database
    /// generates is in it. The context needs <c>AddDomainEventsOutbox()</c> and <c>AddEntityFrameworkOutbox</c>.
    /// </summary>
    /// <typeparam name="TEntity">The entity type.</typeparam>
    /// <param name="entity">The entity type builder.</param>
    /// <param name="configure">The destination: exchange, fields or projection, names, version, operations.</param>
    /// <returns>The entity type builder, for chaining.</returns>
    public static EntityTypeBuilder<TEntity> PublishChanges<TEntity>(this EntityTypeBuilder<TEntity> entity, Action<ChangeEventBuilder<TEntity>>? configure = null)
        where TEntity : class
    {
        ArgumentNullException.ThrowIfNull(entity);
        var builder = new ChangeEventBuilder<TEntity>();
        configure?.Invoke(builder);
        var destination = ChangeEventModel.Destination(
            typeof(TEntity), builder.ExchangeName, builder.MessageTypePrefix, builder.RoutingKeyPrefix, builder.VersionNumber,
            builder.PublishedOperations, builder.PublishOnAnyChange, builder.FieldNames,
            builder.DataOf is { } data ? (entry, _) => data(entry.Entity) : null,
            builder.Projection);
        ChangeEventModel.Add(entity.Metadata, destination);
        return entity;
    }
}
