using DomainEvents.Messaging;
using DomainEvents.Tests.Support;

namespace DomainEvents.Tests.Messaging;

public sealed class RegisteringUpcasters
{
    [Test]
    public void A_registered_upcaster_is_found_by_message_type_and_the_version_it_reads()
    {
        var registry = new MessageTypeRegistry();
        var v1ToV2 = new StubUpcaster("order.placed", 1, 2);
        var v2ToV3 = new StubUpcaster("order.placed", 2, 3);
        registry.AddUpcaster(v1ToV2);
        registry.AddUpcaster(v2ToV3);

        registry.TryGetUpcaster("order.placed", 1, out var fromV1).Should().BeTrue();
        registry.TryGetUpcaster("order.placed", 2, out var fromV2).Should().BeTrue();

        fromV1.Should().BeSameAs(v1ToV2);
        fromV2.Should().BeSameAs(v2ToV3);
    }

    [Test]
    public void No_upcaster_is_found_for_another_version_or_message_type()
    {
        var registry = new MessageTypeRegistry();
        registry.AddUpcaster(new StubUpcaster("order.placed", 1, 2));

        registry.TryGetUpcaster("order.placed", 2, out var otherVersion).Should().BeFalse();
        registry.TryGetUpcaster("order.shipped", 1, out var otherType).Should().BeFalse();
        otherVersion.Should().BeNull();
        otherType.Should().BeNull();
    }

    [Test]
    public void A_second_upcaster_from_the_same_version_is_rejected_and_the_first_kept()
    {
        var registry = new MessageTypeRegistry();
        var first = new StubUpcaster("order.placed", 1, 2);
        registry.AddUpcaster(first);

        var act = () => registry.AddUpcaster(new StubUpcaster("order.placed", 1, 3));

        act.Should().Throw<ArgumentException>().WithParameterName("upcaster");
        registry.TryGetUpcaster("order.placed", 1, out var kept).Should().BeTrue();
        kept.Should().BeSameAs(first);
    }

    [Test]
    public void Upcasters_from_the_same_version_of_different_message_types_coexist()
    {
        var registry = new MessageTypeRegistry();

        registry.AddUpcaster(new StubUpcaster("order.placed", 1, 2));
        registry.AddUpcaster(new StubUpcaster("order.shipped", 1, 2));

        registry.TryGetUpcaster("order.shipped", 1, out _).Should().BeTrue();
    }

    [TestCase(2, 2)]
    [TestCase(3, 2)]
    public void An_upcaster_that_does_not_go_to_a_higher_version_is_rejected(int fromVersion, int toVersion)
    {
        var registry = new MessageTypeRegistry();

        var act = () => registry.AddUpcaster(new StubUpcaster("order.placed", fromVersion, toVersion));

        act.Should().Throw<ArgumentException>().WithParameterName("upcaster");
        registry.TryGetUpcaster("order.placed", fromVersion, out _).Should().BeFalse();
    }
}
