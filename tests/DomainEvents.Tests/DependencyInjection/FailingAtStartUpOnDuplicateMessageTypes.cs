using DomainEvents.Errors;
using DomainEvents.Messaging;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Tests.DependencyInjection;

public sealed class FailingAtStartUpOnDuplicateMessageTypes
{
    public sealed record CatalogItemPriced(Guid ItemId, decimal Price) : IIntegrationEvent;

    public sealed record CatalogItemRepriced(Guid ItemId, decimal Price) : IIntegrationEvent;

    [Test]
    public void Two_mapped_types_claiming_the_same_name_and_version_fail_in_AddDomainEvents()
    {
        var services = new ServiceCollection();

        var act = () => services.AddDomainEvents(o => o
            .MapIntegrationEvent<CatalogItemPriced>(m => m.MessageType = "catalog.item-priced")
            .MapIntegrationEvent<CatalogItemRepriced>(m => m.MessageType = "catalog.item-priced"));

        var error = act.Should().Throw<DuplicateMessageTypeException>().Which;
        error.MessageType.Should().Be("catalog.item-priced");
        error.Version.Should().Be(1);
        new[] { error.ExistingType, error.DuplicateType }.Should()
            .BeEquivalentTo([typeof(CatalogItemPriced), typeof(CatalogItemRepriced)]);
        services.Should().BeEmpty("nothing is registered when start-up fails");
    }

    [Test]
    public void The_same_name_with_different_versions_starts_and_resolves_both()
    {
        var services = new ServiceCollection();

        services.AddDomainEvents(o => o
            .MapIntegrationEvent<CatalogItemPriced>(m => m.MessageType = "catalog.item-priced")
            .MapIntegrationEvent<CatalogItemRepriced>(m =>
            {
                m.MessageType = "catalog.item-priced";
                m.Version = 2;
            }));

        using var provider = services.BuildServiceProvider();
        var registry = provider.GetRequiredService<MessageTypeRegistry>();
        registry.GetVersions("catalog.item-priced").Should().Equal(1, 2);
        registry.TryResolve("catalog.item-priced", 2, out var v2).Should().BeTrue();
        v2!.ClrType.Should().Be(typeof(CatalogItemRepriced));
    }
}
