using DomainEvents.Messaging;
using DomainEvents.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Tests.DependencyInjection;

public sealed class ConfiguringUpcastersAtRegistration
{
    [Test]
    public void Upcasters_given_to_AddDomainEvents_are_in_the_registry()
    {
        var upcaster = new StubUpcaster("invoice.issued", 1, 2);
        var services = new ServiceCollection();
        services.AddDomainEvents(o => o.AddUpcaster(upcaster));
        using var provider = services.BuildServiceProvider();

        var registry = provider.GetRequiredService<MessageTypeRegistry>();

        registry.TryGetUpcaster("invoice.issued", 1, out var found).Should().BeTrue();
        found.Should().BeSameAs(upcaster);
    }

    [Test]
    public void Two_upcasters_from_the_same_version_fail_in_AddDomainEvents()
    {
        var services = new ServiceCollection();

        var act = () => services.AddDomainEvents(o => o
            .AddUpcaster(new StubUpcaster("invoice.issued", 1, 2))
            .AddUpcaster(new StubUpcaster("invoice.issued", 1, 2)));

        act.Should().Throw<ArgumentException>().WithParameterName("upcaster");
    }
}
