using DomainEvents;
using DomainEvents.Sources;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers event sources: events implied by an entity's state, raised on every save of the entity.</summary>
public static class EventSourceExtensions
{
    /// <summary>Adds an event source class, resolved from the scope of the code that saves.</summary>
    /// <typeparam name="TEntity">The entity type it looks at.</typeparam>
    /// <typeparam name="TSource">The source.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <returns>The builder, for chaining.</returns>
    public static DomainEventsBuilder AddEventSource<TEntity, TSource>(this DomainEventsBuilder builder)
        where TEntity : class
        where TSource : class, IEventSource<TEntity>
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddScoped<IEventSource<TEntity>, TSource>();
        return builder.Register<TEntity>();
    }

    /// <summary>Adds an event source as a delegate.</summary>
    /// <typeparam name="TEntity">The entity type it looks at.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="events">The events the entity's state implies now.</param>
    /// <returns>The builder, for chaining.</returns>
    public static DomainEventsBuilder AddEventSource<TEntity>(this DomainEventsBuilder builder, Func<TEntity, IEnumerable<IDomainEvent>> events)
        where TEntity : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(events);
        builder.Services.AddSingleton<IEventSource<TEntity>>(new DelegateSource<TEntity>(events));
        return builder.Register<TEntity>();
    }

    private static DomainEventsBuilder Register<TEntity>(this DomainEventsBuilder builder)
        where TEntity : class
    {
        if (!builder.Services.Any(d => d.ImplementationInstance is EventSourceRegistration r && r.EntityType == typeof(TEntity)))
        {
            builder.Services.AddSingleton(new EventSourceRegistration(
                typeof(TEntity),
                static (services, entity) => services.GetServices<IEventSource<TEntity>>().SelectMany(source => source.EventsOf((TEntity)entity))));
        }

        return builder;
    }

    private sealed class DelegateSource<TEntity>(Func<TEntity, IEnumerable<IDomainEvent>> events) : IEventSource<TEntity>
        where TEntity : class
    {
        public IEnumerable<IDomainEvent> EventsOf(TEntity entity) => events(entity);
    }
}
