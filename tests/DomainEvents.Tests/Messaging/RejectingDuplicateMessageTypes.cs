using DomainEvents.Errors;
using DomainEvents.Messaging;

namespace DomainEvents.Tests.Messaging;

public sealed class RejectingDuplicateMessageTypes
{
    [Test]
    public void Two_types_with_the_same_conventional_name_and_version_are_rejected_naming_both()
    {
        var registry = new MessageTypeRegistry();
        registry.Register(typeof(Sales.CustomerRegistered));

        var act = () => registry.Register(typeof(Marketing.CustomerRegistered));

        var error = act.Should().Throw<DuplicateMessageTypeException>().Which;
        error.MessageType.Should().Be("customer.registered");
        error.Version.Should().Be(1);
        error.ExistingType.Should().Be(typeof(Sales.CustomerRegistered));
        error.DuplicateType.Should().Be(typeof(Marketing.CustomerRegistered));
        error.Message.Should().Contain(typeof(Sales.CustomerRegistered).FullName!)
            .And.Contain(typeof(Marketing.CustomerRegistered).FullName!);
    }

    [Test]
    public void An_attribute_that_claims_a_registered_name_is_rejected()
    {
        var registry = new MessageTypeRegistry();
        registry.Register(typeof(Sales.CustomerRegistered));

        var act = () => registry.Register(typeof(Marketing.CustomerSignedUp));

        act.Should().Throw<DuplicateMessageTypeException>()
            .Which.DuplicateType.Should().Be(typeof(Marketing.CustomerSignedUp));
    }

    [Test]
    public void The_first_type_keeps_the_name_after_a_rejected_duplicate()
    {
        var registry = new MessageTypeRegistry();
        registry.Register(typeof(Sales.CustomerRegistered));

        var act = () => registry.Register(typeof(Marketing.CustomerRegistered));

        act.Should().Throw<DuplicateMessageTypeException>();
        registry.TryResolve("customer.registered", 1, out var descriptor).Should().BeTrue();
        descriptor!.ClrType.Should().Be(typeof(Sales.CustomerRegistered));
        registry.Descriptors.Select(d => d.ClrType).Should().Equal(typeof(Sales.CustomerRegistered));
    }

    public static class Sales
    {
        public sealed record CustomerRegistered(Guid CustomerId) : IIntegrationEvent;
    }

    public static class Marketing
    {
        public sealed record CustomerRegistered(Guid CustomerId) : IIntegrationEvent;

        [IntegrationEvent("customer.registered")]
        public sealed record CustomerSignedUp(Guid CustomerId) : IIntegrationEvent;
    }
}
