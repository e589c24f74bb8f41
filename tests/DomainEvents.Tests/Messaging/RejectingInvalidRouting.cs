using DomainEvents.Errors;
using DomainEvents.Messaging;

namespace DomainEvents.Tests.Messaging;

public sealed class RejectingInvalidRouting
{
    public sealed record WarehouseOpened(Guid WarehouseId) : IIntegrationEvent;

    public static IEnumerable<TestCaseData> InvalidExchanges()
    {
        yield return new TestCaseData("amq.x").SetName("An_exchange_starting_with_amq_dot_is_reserved");
        yield return new TestCaseData("warehouse/eu").SetName("An_exchange_with_a_slash_is_rejected");
        yield return new TestCaseData("warehouse events").SetName("An_exchange_with_a_space_is_rejected");
        yield return new TestCaseData("").SetName("An_empty_exchange_is_rejected");
        yield return new TestCaseData(new string('w', 256)).SetName("An_exchange_of_256_ASCII_bytes_is_rejected");
        yield return new TestCaseData(new string('é', 128)).SetName("An_exchange_of_128_chars_but_256_UTF8_bytes_is_rejected");
    }

    [TestCaseSource(nameof(InvalidExchanges))]
    public void Invalid_exchange_is_rejected_with_the_exchange_field(string exchange)
    {
        var act = () => Register(new IntegrationEventMapping { Exchange = exchange });

        var error = act.Should().Throw<InvalidRoutingException>().Which;
        error.Field.Should().Be("exchange");
        error.Value.Should().Be(exchange);
        error.EventType.Should().Be(typeof(WarehouseOpened));
    }

    [TestCase("warehouse")]
    [TestCase("warehouse.events_eu-1:v2")]
    [TestCase("amq")]
    public void Exchange_made_of_letters_digits_and_separators_is_accepted(string exchange) =>
        Register(new IntegrationEventMapping { Exchange = exchange }).Exchange.Should().Be(exchange);

    [Test]
    public void Exchange_of_exactly_255_bytes_is_accepted()
    {
        var exchange = new string('w', 255);

        Register(new IntegrationEventMapping { Exchange = exchange }).Exchange.Should().Be(exchange);
    }

    [Test]
    public void Routing_key_over_255_bytes_is_rejected_with_the_routing_key_field()
    {
        var routingKey = new string('k', 256);

        var act = () => Register(new IntegrationEventMapping { RoutingKey = routingKey });

        var error = act.Should().Throw<InvalidRoutingException>().Which;
        error.Field.Should().Be("routing key");
        error.Value.Should().Be(routingKey);
    }

    [Test]
    public void Routing_key_of_exactly_255_bytes_is_accepted()
    {
        var routingKey = new string('k', 255);

        Register(new IntegrationEventMapping { RoutingKey = routingKey }).RoutingKey.Should().Be(routingKey);
    }

    [Test]
    public void Message_type_over_255_bytes_is_rejected_with_the_message_type_field()
    {
        var act = () => Register(new IntegrationEventMapping { MessageType = new string('m', 256), RoutingKey = "warehouse.opened" });

        act.Should().Throw<InvalidRoutingException>().Which.Field.Should().Be("message type");
    }

    [Test]
    public void Blank_message_type_is_rejected_with_the_message_type_field()
    {
        var act = () => Register(new IntegrationEventMapping { MessageType = "  " });

        act.Should().Throw<InvalidRoutingException>().Which.Field.Should().Be("message type");
    }

    [TestCase(0)]
    [TestCase(-1)]
    public void Version_below_1_is_rejected_with_the_version_field(int version)
    {
        var act = () => Register(new IntegrationEventMapping { Version = version });

        act.Should().Throw<InvalidRoutingException>().Which.Field.Should().Be("version");
    }

    [Test]
    public void A_rejected_type_is_not_registered()
    {
        var registry = new MessageTypeRegistry(new Dictionary<Type, IntegrationEventMapping>
        {
            [typeof(WarehouseOpened)] = new() { Exchange = "amq.x" },
        });

        var act = () => registry.Register(typeof(WarehouseOpened));

        act.Should().Throw<InvalidRoutingException>();
        registry.Descriptors.Should().BeEmpty();
        registry.TryResolve("warehouse.opened", 1, out _).Should().BeFalse();
    }

    private static MessageTypeDescriptor Register(IntegrationEventMapping mapping) =>
        new MessageTypeRegistry(new Dictionary<Type, IntegrationEventMapping> { [typeof(WarehouseOpened)] = mapping })
            .Register(typeof(WarehouseOpened));
}
