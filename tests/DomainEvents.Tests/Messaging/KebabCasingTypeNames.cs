using DomainEvents.Messaging;

namespace DomainEvents.Tests.Messaging;

public sealed class KebabCasingTypeNames
{
    [TestCase("PurchaseOrder", "purchase-order")]
    [TestCase("Order", "order")]
    [TestCase("HTTPRequest", "http-request")]
    [TestCase("CustomerAccountV2", "customer-account-v2")]
    [TestCase("Purchase_Order", "purchase-order")]
    public void Words_are_lower_case_and_joined_by_hyphens(string typeName, string expected) =>
        MessageNaming.ToKebabCase(typeName).Should().Be(expected);

    [Test]
    public void A_generic_arity_marker_is_ignored() =>
        MessageNaming.ToKebabCase("Repository`1").Should().Be("repository");

    [Test]
    public void An_empty_type_name_is_rejected()
    {
        var act = () => MessageNaming.ToKebabCase("");

        act.Should().Throw<ArgumentException>();
    }
}
