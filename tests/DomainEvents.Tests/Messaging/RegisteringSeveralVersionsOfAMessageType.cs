using DomainEvents.Messaging;

namespace DomainEvents.Tests.Messaging;

public sealed class RegisteringSeveralVersionsOfAMessageType
{
    public sealed record StockAdjusted(Guid ProductId, int Delta) : IIntegrationEvent;

    public sealed record StockAdjustedV2(Guid ProductId, int Delta, string Reason) : IIntegrationEvent;

    public sealed record StockAdjustedV3(Guid ProductId, int Delta, string Reason, string Warehouse) : IIntegrationEvent;

    public sealed record StockCounted(Guid ProductId, int Quantity) : IIntegrationEvent;

    [Test]
    public void Versions_of_one_name_coexist_and_are_listed_in_ascending_order()
    {
        var registry = new MessageTypeRegistry();
        registry.Register(typeof(StockAdjustedV3));
        registry.Register(typeof(StockAdjusted));
        registry.Register(typeof(StockCounted));
        registry.Register(typeof(StockAdjustedV2));

        registry.GetVersions("stock.adjusted").Should().Equal(1, 2, 3);
        registry.GetVersions("stock.counted").Should().Equal(1);
    }

    [TestCase(1, typeof(StockAdjusted))]
    [TestCase(2, typeof(StockAdjustedV2))]
    [TestCase(3, typeof(StockAdjustedV3))]
    public void TryResolve_finds_the_type_registered_for_each_version(int version, Type expected)
    {
        var registry = new MessageTypeRegistry();
        var registered = new[] { typeof(StockAdjusted), typeof(StockAdjustedV2), typeof(StockAdjustedV3) }
            .Select(registry.Register)
            .ToList();

        registry.TryResolve("stock.adjusted", version, out var descriptor).Should().BeTrue();

        descriptor!.ClrType.Should().Be(expected);
        descriptor.Should().BeSameAs(registered.Single(d => d.ClrType == expected));
    }

    [Test]
    public void TryResolve_misses_an_unregistered_version_or_name()
    {
        var registry = new MessageTypeRegistry();
        registry.Register(typeof(StockAdjusted));

        registry.TryResolve("stock.adjusted", 2, out var byVersion).Should().BeFalse();
        registry.TryResolve("stock.moved", 1, out var byName).Should().BeFalse();
        byVersion.Should().BeNull();
        byName.Should().BeNull();
    }

    [Test]
    public void An_unknown_name_has_no_versions() =>
        new MessageTypeRegistry().GetVersions("stock.adjusted").Should().BeEmpty();
}
