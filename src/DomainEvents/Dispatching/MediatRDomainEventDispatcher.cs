using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Dispatching;

/// <summary>
/// Dispatches domain events to MediatR notification handlers resolved from the current scope. It does not go
/// through <c>Mediator.Publish</c> (see docs/adr/0001-mediatr-behind-one-seam.md): it resolves and awaits the
/// handlers itself, in registration order, which is what MediatR 5.1.0's default publish does, at a fraction of
/// its cost. Every MediatR type the library uses at run time is behind this class and its publishers.
/// </summary>
internal sealed class MediatRDomainEventDispatcher : IDomainEventDispatcher, IHandlerRunCounter
{
    /// <summary>The DI key under which handlers marked <see cref="AfterCommitAttribute"/> are registered.</summary>
    internal const string AfterCommitKey = AfterCommitAttribute.ServiceKey;

    private readonly IServiceProvider _serviceProvider;
    private readonly bool _hasAfterCommitHandlers;
    private readonly GroupHandlers? _groups;
    private int _dispatchesWithHandlers;

    public MediatRDomainEventDispatcher(IServiceProvider serviceProvider, DomainEventsOptions options, GroupHandlers? groups = null)
    {
        _groups = groups is { Any: true } ? groups : null;
        ArgumentNullException.ThrowIfNull(serviceProvider);
        ArgumentNullException.ThrowIfNull(options);

        // After-commit handlers are keyed services: a container without keyed services fails here, at the first scope.
        _ = (IKeyedServiceProvider)serviceProvider;
        _serviceProvider = serviceProvider;
        _hasAfterCommitHandlers = options.HasAfterCommitHandlers;
    }

    public int DispatchesWithHandlers => _dispatchesWithHandlers;

    public Task DispatchAsync(IDomainEvent domainEvent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(domainEvent);
        var task = DomainEventPublisher.For(domainEvent.GetType()).PublishAsync(domainEvent, _serviceProvider, afterCommit: false, cancellationToken, out var mayRunHandlers);
        if (_groups is not null && _groups.GroupOf(domainEvent) is var group && _groups.For(group) is { Length: > 0 } byGroup)
        {
            mayRunHandlers = true;
            task = GroupHandlers.RunAsync(task, byGroup, domainEvent, group, _serviceProvider, cancellationToken);
        }

        if (mayRunHandlers)
        {
            _dispatchesWithHandlers++;
        }

        return task;
    }

    /// <remarks>With no after-commit handler registered this does nothing, so every save does not publish each event twice.</remarks>
    public Task DispatchAfterCommitAsync(IDomainEvent domainEvent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(domainEvent);
        return _hasAfterCommitHandlers
            ? DomainEventPublisher.For(domainEvent.GetType()).PublishAsync(domainEvent, _serviceProvider, afterCommit: true, cancellationToken, out _)
            : Task.CompletedTask;
    }
}
