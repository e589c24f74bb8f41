using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

public sealed class RegisteringConsumers
{
    [Test]
    public void A_consumer_of_a_contract_without_a_namespace_fails_at_registration_and_says_why()
    {
        var services = new ServiceCollection();

        var register = () => services.AddMassTransit(x => x.AddIntegrationEventConsumer<NamespacelessConsumer>(c => c.Bind("shop", "#")));

        register.Should().Throw<InvalidOperationException>().WithMessage("*NamespacelessPlaced*without a namespace*");
    }
}
