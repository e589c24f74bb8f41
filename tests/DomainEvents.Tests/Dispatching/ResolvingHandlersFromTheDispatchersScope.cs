using System.Collections.Concurrent;
using DomainEvents.Dispatching;
using DomainEvents.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Tests.Dispatching;

public sealed class ResolvingHandlersFromTheDispatchersScope
{
    private DispatcherHost _host = null!;

    /// <summary>Collects what each handler instance was given, so the test can see where it was resolved.</summary>
    public sealed record CrateScanned(Guid CrateId, ConcurrentQueue<(object Handler, IServiceProvider Services)> Seen) : IDomainEvent;

    public sealed class CountCrate(IServiceProvider services) : DomainEventHandler<CrateScanned>
    {
        protected override Task Handle(CrateScanned domainEvent, CancellationToken cancellationToken)
        {
            domainEvent.Seen.Enqueue((this, services));
            return Task.CompletedTask;
        }
    }

    [SetUp]
    public void StartHost() => _host = new DispatcherHost();

    [TearDown]
    public void StopHost() => _host.Dispose();

    [Test]
    public async Task Handlers_are_resolved_from_the_scope_the_dispatcher_belongs_to()
    {
        var crateScanned = new CrateScanned(Guid.NewGuid(), new());

        await _host.Dispatcher.DispatchAsync(crateScanned);

        crateScanned.Seen.Should().ContainSingle().Which.Services.Should().BeSameAs(_host.Scope);
    }

    [Test]
    public async Task A_transient_handler_is_a_new_instance_for_each_dispatch()
    {
        var crateScanned = new CrateScanned(Guid.NewGuid(), new());

        await _host.Dispatcher.DispatchAsync(crateScanned);
        await _host.Dispatcher.DispatchAsync(crateScanned);

        crateScanned.Seen.Select(s => s.Handler).Should().HaveCount(2).And.OnlyHaveUniqueItems();
    }

    [Test]
    public async Task Dispatchers_of_concurrent_scopes_reach_their_own_handlers_once_per_event()
    {
        var scopes = Enumerable.Range(0, 16).Select(_ => _host.CreateScope()).ToList();
        var events = scopes.Select(_ => new CrateScanned(Guid.NewGuid(), new())).ToList();

        await Task.WhenAll(scopes.Select((scope, i) => Task.Run(() =>
            scope.ServiceProvider.GetRequiredService<IDomainEventDispatcher>().DispatchAsync(events[i]))));

        for (var i = 0; i < scopes.Count; i++)
        {
            events[i].Seen.Should().ContainSingle().Which.Services.Should().BeSameAs(scopes[i].ServiceProvider);
            scopes[i].Dispose();
        }
    }
}
