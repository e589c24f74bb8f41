using System.Collections.Concurrent;
using MediatR;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Dispatching;

/// <summary>
/// Publishes domain events through MediatR 5. Every MediatR type the library uses is behind this class.
/// </summary>
internal sealed class MediatRDomainEventDispatcher : IDomainEventDispatcher
{
    /// <summary>The DI key under which handlers marked <see cref="AfterCommitAttribute"/> are registered.</summary>
    internal const string AfterCommitKey = AfterCommitAttribute.ServiceKey;

    private static readonly ConcurrentDictionary<Type, Func<IDomainEvent, INotification>> Wrappers = new();

    private readonly Mediator _mediator;
    private readonly Mediator _afterCommitMediator;
    private readonly bool _hasAfterCommitHandlers;

    public MediatRDomainEventDispatcher(IServiceProvider serviceProvider, DomainEventsOptions options)
    {
        _hasAfterCommitHandlers = options.HasAfterCommitHandlers;
        _mediator = new Mediator(serviceProvider.GetService!);
        var keyed = (IKeyedServiceProvider)serviceProvider;
        _afterCommitMediator = new Mediator(type => keyed.GetKeyedService(type, AfterCommitKey)!);
    }

    public Task DispatchAsync(IDomainEvent domainEvent, CancellationToken cancellationToken = default) =>
        PublishAsync(_mediator, domainEvent, cancellationToken);

    /// <remarks>With no after-commit handler registered this does nothing, so every save does not publish each event twice.</remarks>
    public Task DispatchAfterCommitAsync(IDomainEvent domainEvent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(domainEvent);
        return _hasAfterCommitHandlers ? PublishAsync(_afterCommitMediator, domainEvent, cancellationToken) : Task.CompletedTask;
    }

    private static Task PublishAsync(Mediator mediator, IDomainEvent domainEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(domainEvent);
        var wrapper = Wrappers.GetOrAdd(domainEvent.GetType(), CreateWrapper)(domainEvent);
        if (domainEvent is INotification notification)
        {
            return PublishBothAsync(mediator, wrapper, notification, cancellationToken);
        }

        return mediator.Publish(wrapper, cancellationToken);
    }

    private static async Task PublishBothAsync(Mediator mediator, INotification wrapper, INotification notification, CancellationToken cancellationToken)
    {
        await mediator.Publish(wrapper, cancellationToken).ConfigureAwait(false);
        await mediator.Publish(notification, cancellationToken).ConfigureAwait(false);
    }

    private static Func<IDomainEvent, INotification> CreateWrapper(Type eventType) =>
        (Func<IDomainEvent, INotification>)typeof(MediatRDomainEventDispatcher)
            .GetMethod(nameof(Wrap), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(eventType)
            .CreateDelegate(typeof(Func<IDomainEvent, INotification>));

    private static INotification Wrap<TEvent>(IDomainEvent domainEvent)
        where TEvent : IDomainEvent =>
        new DomainEventNotification<TEvent>((TEvent)domainEvent);
}
