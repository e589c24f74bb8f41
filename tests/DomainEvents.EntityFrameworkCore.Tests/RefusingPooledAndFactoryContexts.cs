using DomainEvents.EntityFrameworkCore.Interception;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// A pooled or factory-made context has its options built once for the application: the handlers would run outside the
/// saving code's scope and one interceptor would serve every context at once. The first context made says so.
/// </summary>
public sealed class RefusingPooledAndFactoryContexts
{
    [Test]
    public void A_pooled_context_fails_when_first_made_and_says_to_use_AddDbContext()
    {
        var services = new ServiceCollection();
        services.AddDbContextPool<OrderingDbContext>(o => o.UseSqlite("Data Source=:memory:"));
        services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<OrderingDbContext>()).AddEntityFrameworkOutbox<OrderingDbContext>();
        using var provider = services.BuildServiceProvider();
        using var scope = provider.CreateScope();

        var make = () => scope.ServiceProvider.GetRequiredService<OrderingDbContext>();

        make.Should().Throw<ScopedContextRequiredException>().WithMessage("*AddDbContextPool*AddDbContext<OrderingDbContext>*");
    }

    [Test]
    public void A_factory_made_context_fails_when_first_made_and_says_to_use_AddDbContext()
    {
        var services = new ServiceCollection();
        services.AddDbContextFactory<OrderingDbContext>(o => o.UseSqlite("Data Source=:memory:"));
        services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<OrderingDbContext>()).AddEntityFrameworkOutbox<OrderingDbContext>();
        using var provider = services.BuildServiceProvider();

        var make = () => provider.GetRequiredService<IDbContextFactory<OrderingDbContext>>().CreateDbContext();

        make.Should().Throw<ScopedContextRequiredException>().WithMessage("*AddDbContextFactory*");
    }

    [Test]
    public void A_context_added_with_AddDbContext_can_still_be_made_from_the_root_provider_as_design_time_tools_do()
    {
        var services = new ServiceCollection();
        services.AddSingleton<HandlerLog>();
        services.AddDbContext<OrderingDbContext>(o => o.UseSqlite("Data Source=:memory:"));
        services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<OrderingDbContext>()).AddEntityFrameworkOutbox<OrderingDbContext>();
        using var provider = services.BuildServiceProvider();

        var make = () => provider.GetRequiredService<OrderingDbContext>();

        make.Should().NotThrow();
    }
}
