using BenchmarkDotNet.Attributes;
using DomainEvents.Dispatching;
using MediatR;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Benchmarks.Dispatch;

/// <summary>
/// One event to 1 or 3 in-process handlers: through our dispatcher (IDomainEventDispatcher, i.e. the internal
/// MediatRDomainEventDispatcher), through raw MediatR 5.1.0 with the same number of transient handlers, and by
/// calling the handlers directly. The event instances are made once, so only the dispatch is measured.
/// </summary>
[MemoryDiagnoser]
public class DispatchBenchmarks
{
    private readonly OrderPaid _paid = new(Guid.CreateVersion7(), 42.50m);
    private readonly OrderShipped _shipped = new(Guid.CreateVersion7(), "post");
    private readonly RawOrderPaid _rawPaid = new(Guid.CreateVersion7(), 42.50m);
    private readonly RawOrderShipped _rawShipped = new(Guid.CreateVersion7(), "post");

    private ServiceProvider? _services;
    private AsyncServiceScope _scope;
    private IDomainEventDispatcher _dispatcher = null!;
    private Mediator _mediator = null!;
    private IDomainEvent _domainEvent = null!;
    private INotification _notification = null!;
    private RawRecordPayment _directPaid = null!;
    private INotificationHandler<RawOrderShipped>[] _directShipped = [];

    /// <summary>Handlers of the one event dispatched.</summary>
    [Params(1, 3)]
    public int Handlers { get; set; }

    [GlobalSetup]
    public async Task SetUp()
    {
        var services = new ServiceCollection();

        // Raw MediatR: handlers registered the way MediatR 5 users register them, transient.
        services.AddTransient<INotificationHandler<RawOrderPaid>, RawRecordPayment>();
        services.AddTransient<INotificationHandler<RawOrderShipped>, RawReserveCarrier>();
        services.AddTransient<INotificationHandler<RawOrderShipped>, RawUpdateTracking>();
        services.AddTransient<INotificationHandler<RawOrderShipped>, RawEmailCustomer>();

        // Ours, wired as a user wires it. The scan sees the raw handlers too, finds them registered already and
        // skips them; it registers our handlers transient as well. ExpectTransientHandlers proves both.
        services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<DispatchBenchmarks>());

        ExpectTransientHandlers(services, typeof(INotificationHandler<DomainEventNotification<OrderPaid>>), 1);
        ExpectTransientHandlers(services, typeof(INotificationHandler<DomainEventNotification<OrderShipped>>), 3);
        ExpectTransientHandlers(services, typeof(INotificationHandler<RawOrderPaid>), 1);
        ExpectTransientHandlers(services, typeof(INotificationHandler<RawOrderShipped>), 3);

        _services = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
        _scope = _services.CreateAsyncScope();
        _dispatcher = _scope.ServiceProvider.GetRequiredService<IDomainEventDispatcher>();
        _mediator = new Mediator(_scope.ServiceProvider.GetService!);

        _domainEvent = Handlers == 1 ? _paid : _shipped;
        _notification = Handlers == 1 ? _rawPaid : _rawShipped;
        _directPaid = new RawRecordPayment();
        _directShipped = [new RawReserveCarrier(), new RawUpdateTracking(), new RawEmailCustomer()];

        await ExpectCallsAsync(nameof(DomainEvents), DomainEvents);
        await ExpectCallsAsync(nameof(RawMediatR), RawMediatR);
        await ExpectCallsAsync(nameof(DirectCall), DirectCall);
    }

    [GlobalCleanup]
    public async Task CleanUp()
    {
        await _scope.DisposeAsync();
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }
    }

    [Benchmark(Baseline = true)]
    public Task RawMediatR() => _mediator.Publish(_notification);

    [Benchmark]
    public Task DomainEvents() => _dispatcher.DispatchAsync(_domainEvent);

    [Benchmark]
    public async Task DirectCall()
    {
        if (Handlers == 1)
        {
            await _directPaid.Handle(_rawPaid, CancellationToken.None);
            return;
        }

        foreach (var handler in _directShipped)
        {
            await handler.Handle(_rawShipped, CancellationToken.None);
        }
    }

    private static void ExpectTransientHandlers(ServiceCollection services, Type contract, int expected)
    {
        var registered = services.Where(d => d.ServiceType == contract).ToList();
        if (registered.Count != expected || registered.Any(d => d.Lifetime != ServiceLifetime.Transient || d.IsKeyedService))
        {
            throw new InvalidOperationException(
                $"Unfair comparison: expected {expected} transient handler(s) of {contract}, found " +
                $"[{string.Join(", ", registered.Select(d => $"{(d.IsKeyedService ? d.KeyedImplementationType : d.ImplementationType)?.Name} {d.Lifetime}{(d.IsKeyedService ? " keyed" : "")}"))}].");
        }
    }

    private async Task ExpectCallsAsync(string path, Func<Task> dispatch)
    {
        var before = HandlerCalls.Count;
        await dispatch();
        var calls = HandlerCalls.Count - before;
        if (calls != Handlers)
        {
            throw new InvalidOperationException($"{path} ran {calls} handler(s) for one event; expected {Handlers}.");
        }
    }
}
