using DomainEvents.Messaging;

namespace DomainEvents.Tests.Messaging;

public sealed class OverridingRoutingWithFluentMapping
{
    [IntegrationEvent("attribute.name", Version = 2, Exchange = "attribute-exchange", RoutingKey = "attribute.key")]
    public sealed record ShipmentDelayed(Guid ShipmentId) : IIntegrationEvent;

    public sealed record ShipmentDelivered(Guid ShipmentId) : IIntegrationEvent;

    [Test]
    public void Every_value_set_in_the_mapping_beats_the_attribute()
    {
        var registry = RegistryWith<ShipmentDelayed>(new IntegrationEventMapping
        {
            MessageType = "shipping.shipment-delayed",
            Version = 5,
            Exchange = "shipping",
            RoutingKey = "shipping.delayed",
        });

        var descriptor = registry.Register(typeof(ShipmentDelayed));

        descriptor.Should().Be(new MessageTypeDescriptor(typeof(ShipmentDelayed), "shipping.shipment-delayed", 5, "shipping", "shipping.delayed"));
    }

    [Test]
    public void Values_left_null_in_the_mapping_fall_back_to_the_attribute()
    {
        var registry = RegistryWith<ShipmentDelayed>(new IntegrationEventMapping { Exchange = "shipping" });

        var descriptor = registry.Register(typeof(ShipmentDelayed));

        descriptor.Should().Be(new MessageTypeDescriptor(typeof(ShipmentDelayed), "attribute.name", 2, "shipping", "attribute.key"));
    }

    [Test]
    public void A_mapped_message_type_is_also_the_default_routing_key()
    {
        var registry = RegistryWith<ShipmentDelivered>(new IntegrationEventMapping { MessageType = "shipping.delivered" });

        var descriptor = registry.Register(typeof(ShipmentDelivered));

        descriptor.RoutingKey.Should().Be("shipping.delivered");
        descriptor.Version.Should().Be(1);
    }

    [Test]
    public void A_mapping_for_another_type_does_not_apply()
    {
        var registry = RegistryWith<ShipmentDelayed>(new IntegrationEventMapping { MessageType = "shipping.shipment-delayed" });

        var descriptor = registry.Register(typeof(ShipmentDelivered));

        descriptor.MessageType.Should().Be("shipment.delivered");
    }

    private static MessageTypeRegistry RegistryWith<TEvent>(IntegrationEventMapping mapping) =>
        new(new Dictionary<Type, IntegrationEventMapping> { [typeof(TEvent)] = mapping });
}
