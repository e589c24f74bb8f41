using DomainEvents;
using DomainEvents.Dispatching;
using DomainEvents.Messaging;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers handlers of event groups.</summary>
public static class GroupHandlerExtensions
{
    /// <summary>
    /// Runs <typeparamref name="THandler"/> (scoped) for every event whose group matches <paramref name="pattern"/>, in the
    /// unit of work, after the event's handlers by type. The pattern has RabbitMQ's topic syntax (see <see cref="TopicPattern"/>):
    /// <c>challenge.*</c>, <c>*.ended</c>, <c>#</c>. An event's group is its message type unless it names its own
    /// (<see cref="IGroupedEvent"/>). Register a handler several times to give it several patterns; it runs once per event.
    /// </summary>
    /// <typeparam name="THandler">The handler.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="pattern">The group pattern.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentException">The pattern is not a topic pattern.</exception>
    public static DomainEventsBuilder AddGroupHandler<THandler>(this DomainEventsBuilder builder, string pattern)
        where THandler : class, IDomainEventGroupHandler
    {
        ArgumentNullException.ThrowIfNull(builder);
        var parsed = TopicPattern.Parse(pattern);
        builder.Services.TryAddScoped<THandler>();
        builder.Services.AddSingleton(new GroupHandlerRegistration(typeof(THandler), parsed));
        builder.Services.TryAddSingleton<GroupHandlers>();
        return builder;
    }
}
