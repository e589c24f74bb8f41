using DomainEvents.EntityFrameworkCore.Relay;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>What a process with several outbox contexts may and may not register.</summary>
public sealed class RegisteringSeveralContexts
{
    [Test]
    public void Transport_settings_given_to_a_second_MassTransit_relay_are_refused()
    {
        var events = new ServiceCollection().AddDomainEvents()
            .AddEntityFrameworkOutbox<FirstContext>().AddMassTransitRelay(configureTransport: t => t.Envelope = MessageEnvelope.PlainJson)
            .AddEntityFrameworkOutbox<SecondContext>();

        var again = () => events.AddMassTransitRelay(configureTransport: t => t.Envelope = MessageEnvelope.CloudEventsBinary);

        again.Should().Throw<InvalidOperationException>().WithMessage("*first AddMassTransitRelay only*");
        events.AddMassTransitRelay(r => r.BatchSize = 5);
        events.Services.Count(d => d.ServiceType == typeof(Microsoft.Extensions.Hosting.IHostedService)).Should().Be(6, "each context has a relay, a clean-up and a backlog monitor");
    }

    [Test]
    public void A_second_CloudEvents_HTTP_relay_is_refused()
    {
        var events = new ServiceCollection().AddDomainEvents()
            .AddEntityFrameworkOutbox<FirstContext>().AddCloudEventsHttpRelay(o => o.Source = new Uri("urn:first"))
            .AddEntityFrameworkOutbox<SecondContext>();

        var again = () => events.AddCloudEventsHttpRelay(o => o.Source = new Uri("urn:second"));

        again.Should().Throw<InvalidOperationException>().WithMessage("*one CloudEvents sink*");
    }

    [Test]
    public async Task Each_context_has_its_own_administration_and_the_plain_one_is_the_firsts()
    {
        var services = new ServiceCollection();
        services.AddDbContext<FirstContext>(o => o.UseSqlite("Data Source=:memory:"));
        services.AddDbContext<SecondContext>(o => o.UseSqlite("Data Source=:memory:"));
        services.AddDomainEvents().AddEntityFrameworkOutbox<FirstContext>().AddEntityFrameworkOutbox<SecondContext>();
        await using var provider = services.BuildServiceProvider();
        await using var scope = provider.CreateAsyncScope();

        scope.ServiceProvider.GetRequiredService<IOutboxAdministration>().Should().BeSameAs(scope.ServiceProvider.GetRequiredService<IOutboxAdministration<FirstContext>>());
        scope.ServiceProvider.GetRequiredService<IOutboxAdministration<SecondContext>>().Should().NotBeSameAs(scope.ServiceProvider.GetRequiredService<IOutboxAdministration<FirstContext>>());
    }

    private sealed class FirstContext(DbContextOptions<FirstContext> options) : DbContext(options);

    private sealed class SecondContext(DbContextOptions<SecondContext> options) : DbContext(options);
}
