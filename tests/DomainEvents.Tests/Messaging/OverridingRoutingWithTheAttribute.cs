using DomainEvents.Messaging;

namespace DomainEvents.Tests.Messaging;

public sealed class OverridingRoutingWithTheAttribute
{
    [IntegrationEvent("billing.payment-captured", Version = 3, Exchange = "billing", RoutingKey = "billing.payment.captured.eu")]
    public sealed record PaymentCaptured(Guid PaymentId) : IIntegrationEvent;

    [IntegrationEvent("billing.payment-refunded")]
    public sealed record PaymentRefunded(Guid PaymentId) : IIntegrationEvent;

    [IntegrationEvent(Exchange = "billing")]
    public sealed record PaymentVoidedV2(Guid PaymentId) : IIntegrationEvent;

    [Test]
    public void Every_value_set_on_the_attribute_is_used()
    {
        var descriptor = new MessageTypeRegistry().Register(typeof(PaymentCaptured));

        descriptor.Should().Be(new MessageTypeDescriptor(
            typeof(PaymentCaptured), "billing.payment-captured", 3, "billing", "billing.payment.captured.eu"));
    }

    [Test]
    public void The_routing_key_defaults_to_the_attribute_message_type()
    {
        var descriptor = new MessageTypeRegistry().Register(typeof(PaymentRefunded));

        descriptor.MessageType.Should().Be("billing.payment-refunded");
        descriptor.RoutingKey.Should().Be("billing.payment-refunded");
        descriptor.Version.Should().Be(1);
        descriptor.Exchange.Should().BeNull();
    }

    [Test]
    public void Values_left_unset_keep_the_convention()
    {
        var descriptor = new MessageTypeRegistry().Register(typeof(PaymentVoidedV2));

        descriptor.Should().Be(new MessageTypeDescriptor(typeof(PaymentVoidedV2), "payment.voided", 2, "billing", "payment.voided"));
    }
}
