using System.Collections.Concurrent;
using System.Diagnostics;
using DomainEvents.Messaging;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Dispatching;

/// <summary>A handler registered for a group pattern.</summary>
internal sealed record GroupHandlerRegistration(Type HandlerType, TopicPattern Pattern);

/// <summary>
/// The group handlers of the process: which run for an event, worked out once per event type (per group for events that
/// name their own), and running them in registration order.
/// </summary>
internal sealed class GroupHandlers(IEnumerable<GroupHandlerRegistration> registrations, MessageTypeRegistry registry)
{
    private readonly GroupHandlerRegistration[] _registrations = [.. registrations];
    private readonly ConcurrentDictionary<Type, string> _groupsByType = new();
    private readonly ConcurrentDictionary<string, Type[]> _handlersByGroup = new(StringComparer.Ordinal);

    public bool Any => _registrations.Length > 0;

    /// <summary>The event's group: its own, or its message type.</summary>
    public string GroupOf(IDomainEvent domainEvent) =>
        domainEvent is IGroupedEvent grouped
            ? (string.IsNullOrWhiteSpace(grouped.EventGroup)
                ? throw new InvalidOperationException($"{domainEvent.GetType().Name}.EventGroup is empty: an event that names its group needs one, such as 'challenge.ended'.")
                : grouped.EventGroup)
            : _groupsByType.GetOrAdd(domainEvent.GetType(), type => typeof(IIntegrationEvent).IsAssignableFrom(type)
                ? registry.GetDescriptor(type).MessageType
                : MessageNaming.FromTypeName(type.Name).MessageType);

    /// <summary>The handler types whose pattern matches <paramref name="group"/>, in registration order.</summary>
    public Type[] For(string group) =>
        _handlersByGroup.GetOrAdd(group, g => [.. _registrations.Where(r => r.Pattern.IsMatch(g)).Select(r => r.HandlerType).Distinct()]);

    /// <summary>Runs each handler in turn; the first failure ends the run, as with handlers by type.</summary>
    public static async Task RunAsync(Task byType, Type[] handlerTypes, IDomainEvent domainEvent, string group, IServiceProvider services, CancellationToken cancellationToken)
    {
        await byType.ConfigureAwait(false);
        foreach (var type in handlerTypes)
        {
            var handler = (IDomainEventGroupHandler)services.GetRequiredService(type);
            using var activity = DomainEventsTracing.Source.StartActivity(ActivityKind.Internal, name: "dispatch " + group);
            activity?.SetTag("domainevents.handler", type.Name);
            try
            {
                await handler.HandleAsync(domainEvent, group, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (activity is not null)
            {
                activity.SetStatus(ActivityStatusCode.Error, ex.Message);
                activity.AddException(ex);
                throw;
            }
        }
    }
}
