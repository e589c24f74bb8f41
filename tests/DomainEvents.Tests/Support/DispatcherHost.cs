using DomainEvents.Dispatching;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Tests.Support;

/// <summary>
/// A service provider wired the way a user wires it: AddDomainEvents scanning this test assembly for handlers,
/// plus a <see cref="CallLog"/> singleton the handlers write to.
/// </summary>
public sealed class DispatcherHost : IDisposable
{
    private readonly ServiceProvider _provider;
    private readonly IServiceScope _scope;

    public DispatcherHost()
    {
        var services = new ServiceCollection();
        services.AddSingleton(Log);
        services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<DispatcherHost>());
        _provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        _scope = _provider.CreateScope();
        Dispatcher = _scope.ServiceProvider.GetRequiredService<IDomainEventDispatcher>();
    }

    public CallLog Log { get; } = new();

    public IDomainEventDispatcher Dispatcher { get; }

    public void Dispose()
    {
        _scope.Dispose();
        _provider.Dispose();
    }
}
