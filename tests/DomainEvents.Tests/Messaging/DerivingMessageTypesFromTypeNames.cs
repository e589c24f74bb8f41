using DomainEvents.Messaging;

namespace DomainEvents.Tests.Messaging;

public sealed class DerivingMessageTypesFromTypeNames
{
    [Test]
    public void OrderPlaced_is_order_placed_version_1() =>
        MessageNaming.FromTypeName("OrderPlaced").Should().Be(("order.placed", 1));

    [Test]
    public void OrderPlacedV2_is_order_placed_version_2() =>
        MessageNaming.FromTypeName("OrderPlacedV2").Should().Be(("order.placed", 2));

    [Test]
    public void A_multi_digit_version_suffix_is_read_whole() =>
        MessageNaming.FromTypeName("OrderPlacedV12").Should().Be(("order.placed", 12));

    [TestCase("OrderPlacedEvent")]
    [TestCase("OrderPlacedIntegrationEvent")]
    [TestCase("OrderPlacedDomainEvent")]
    public void Event_suffixes_are_dropped(string typeName) =>
        MessageNaming.FromTypeName(typeName).Should().Be(("order.placed", 1));

    [Test]
    public void A_version_after_the_event_suffix_is_read_and_the_suffix_dropped() =>
        MessageNaming.FromTypeName("OrderPlacedEventV3").Should().Be(("order.placed", 3));

    [TestCase("OrderPlacedV2Event")]
    [TestCase("OrderPlacedV2IntegrationEvent")]
    [TestCase("OrderPlaced_V2")]
    public void A_version_before_the_event_suffix_is_read_and_the_suffix_dropped(string typeName) =>
        MessageNaming.FromTypeName(typeName).Should().Be(("order.placed", 2));

    [TestCase("Order__Placed", "order.placed")]
    [TestCase("Order_Placed_", "order.placed")]
    public void Repeated_or_trailing_underscores_make_no_empty_words(string typeName, string expected) =>
        MessageNaming.FromTypeName(typeName).MessageType.Should().Be(expected);

    [Test]
    public void A_name_that_is_only_a_suffix_is_kept() =>
        MessageNaming.FromTypeName("Event").Should().Be(("event", 1));

    [TestCase("HTTPRequestFailed", "http.request.failed")]
    [TestCase("IOError", "io.error")]
    [TestCase("SKUChanged", "sku.changed")]
    [TestCase("CustomerSSNVerified", "customer.ssn.verified")]
    public void A_leading_or_inner_acronym_is_one_word(string typeName, string expected) =>
        MessageNaming.FromTypeName(typeName).Should().Be((expected, 1));

    [Test]
    public void Digits_stay_with_the_word_they_follow() =>
        MessageNaming.FromTypeName("Sha256Computed").Should().Be(("sha256.computed", 1));

    [Test]
    public void Underscores_separate_words() =>
        MessageNaming.FromTypeName("Order_Placed").Should().Be(("order.placed", 1));

    [Test]
    public void A_generic_arity_marker_is_ignored() =>
        MessageNaming.FromTypeName("EntityChanged`1").Should().Be(("entity.changed", 1));

    [TestCase("OrderPlacedV0")]
    [TestCase("OrderPlacedV")]
    public void A_V_without_a_positive_number_is_part_of_the_name(string typeName) =>
        MessageNaming.FromTypeName(typeName).Version.Should().Be(1);

    [Test]
    public void An_empty_type_name_is_rejected()
    {
        var act = () => MessageNaming.FromTypeName("");

        act.Should().Throw<ArgumentException>();
    }
}
