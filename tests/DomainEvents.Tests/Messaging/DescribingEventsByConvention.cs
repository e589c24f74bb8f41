using DomainEvents.Messaging;

namespace DomainEvents.Tests.Messaging;

public sealed class DescribingEventsByConvention
{
    public sealed record InvoiceIssued(Guid InvoiceId) : IIntegrationEvent;

    public sealed record InvoiceCancelledV2(Guid InvoiceId) : IIntegrationEvent;

    public sealed record InvoiceDrafted(Guid InvoiceId) : IDomainEvent;

    [Test]
    public void A_plain_event_is_its_dotted_name_version_1_routed_by_its_name_to_no_fixed_exchange()
    {
        var descriptor = new MessageTypeRegistry().Register(typeof(InvoiceIssued));

        descriptor.Should().Be(new MessageTypeDescriptor(typeof(InvoiceIssued), "invoice.issued", 1, Exchange: null, RoutingKey: "invoice.issued"));
    }

    [Test]
    public void A_trailing_V2_sets_the_version_and_leaves_the_routing_key_unversioned()
    {
        var descriptor = new MessageTypeRegistry().Register(typeof(InvoiceCancelledV2));

        descriptor.MessageType.Should().Be("invoice.cancelled");
        descriptor.Version.Should().Be(2);
        descriptor.RoutingKey.Should().Be("invoice.cancelled");
    }

    [Test]
    public void Registering_a_type_twice_returns_the_same_descriptor()
    {
        var registry = new MessageTypeRegistry();

        var first = registry.Register(typeof(InvoiceIssued));
        var second = registry.Register(typeof(InvoiceIssued));

        second.Should().BeSameAs(first);
        registry.Descriptors.Should().ContainSingle();
    }

    [Test]
    public void GetDescriptor_registers_an_unknown_type_by_convention()
    {
        var registry = new MessageTypeRegistry();

        var descriptor = registry.GetDescriptor(typeof(InvoiceIssued));

        descriptor.MessageType.Should().Be("invoice.issued");
        registry.TryResolve("invoice.issued", 1, out var resolved).Should().BeTrue();
        resolved.Should().BeSameAs(descriptor);
    }

    [Test]
    public void A_domain_event_that_is_not_an_integration_event_is_rejected()
    {
        var act = () => new MessageTypeRegistry().Register(typeof(InvoiceDrafted));

        act.Should().Throw<ArgumentException>().WithParameterName("eventType");
    }
}
