using DomainEvents.MassTransit.Tests.Model;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>Change events of a plain entity travel through RabbitMQ and reach a consumer typed, in the order of the saves.</summary>
public sealed class ConsumingChangeEvents : RabbitMqFixture
{
    [Test]
    public async Task A_consumer_receives_a_customers_changes_as_the_records_it_declares_in_order()
    {
        var host = await StartAsync(relay: true, o => o.Consumers.Add((typeof(CustomersConsumer), c =>
        {
            c.Bind(ShopDbContext.CustomersExchange, "customer.*");
            c.QueueName = Queue("customers");
        })));
        var customer = new Customer { Name = "Ada", PasswordHash = "x" };
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ShopDbContext>();
            db.Customers.Add(customer);
            await db.SaveChangesAsync();
            customer.PasswordHash = "y";
            await db.SaveChangesAsync();
            customer.Name = "Ada Lovelace";
            await db.SaveChangesAsync();
        }

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(CustomersConsumer)).Count == 2);
        await Task.Delay(300);
        var deliveries = Deliveries.Of(nameof(CustomersConsumer));
        deliveries.Select(d => d.Message).Should().BeEquivalentTo(
            new object[]
            {
                new CustomerCreated("Customer", customer.Id, "created", ["id", "name"], new CustomerData(customer.Id, "Ada")),
                new CustomerUpdated("Customer", customer.Id, "updated", ["name"], new CustomerData(customer.Id, "Ada Lovelace")),
            },
            o => o.WithStrictOrdering().RespectingRuntimeTypes(),
            "a change only to PasswordHash, which the event does not carry, publishes nothing");
        deliveries.Should().OnlyContain(d => d.Envelope.PartitionKey == $"Customer/{customer.Id}" && d.Envelope.Exchange == ShopDbContext.CustomersExchange);
    }
}
