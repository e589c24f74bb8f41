using DomainEvents.Dispatching;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Tests.Support;

/// <summary>
/// A service provider wired the way a user wires it: AddDomainEvents scanning this test assembly for handlers,
/// plus a <see cref="CallLog"/> singleton the handlers write to. With <c>scan: false</c> no handler is found by
/// scanning, and the test registers its own, in the order it chooses.
/// </summary>
public sealed class DispatcherHost : IDisposable
{
    private readonly ServiceProvider _provider;
    private readonly IServiceScope _scope;

    public DispatcherHost()
        : this(scan: true, register: null)
    {
    }

    public DispatcherHost(bool scan, Action<IServiceCollection>? register)
    {
        var services = new ServiceCollection();
        services.AddSingleton(Log);
        services.AddDomainEvents(o =>
        {
            if (scan)
            {
                o.AddHandlersFromAssemblyContaining<DispatcherHost>();
            }
        });
        register?.Invoke(services);
        Services = [.. services];
        _provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        _scope = _provider.CreateScope();
        Dispatcher = _scope.ServiceProvider.GetRequiredService<IDomainEventDispatcher>();
    }

    public CallLog Log { get; } = new();

    public IDomainEventDispatcher Dispatcher { get; }

    /// <summary>Gets the registrations the provider was built from, in registration order.</summary>
    public IReadOnlyList<ServiceDescriptor> Services { get; }

    /// <summary>Gets the scope <see cref="Dispatcher"/> was resolved from.</summary>
    public IServiceProvider Scope => _scope.ServiceProvider;

    /// <summary>Creates another scope of the same provider, as a second request would.</summary>
    public IServiceScope CreateScope() => _provider.CreateScope();

    public void Dispose()
    {
        _scope.Dispose();
        _provider.Dispose();
    }
}
