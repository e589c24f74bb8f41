using System.Collections.Concurrent;
using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.MassTransit.Tests.Model;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// The DomainEvents configuration section declares what code declares (relay settings, envelopes per exchange, consumers'
/// bindings, queue, order and inbox), code wins where it sets a value, and delegate handlers consume without a class: on
/// the real broker and PostgreSQL.
/// </summary>
public sealed class ConfiguringFromSettings : RabbitMqFixture
{
    [Test]
    public async Task A_consumer_bound_only_in_configuration_receives_in_the_configured_envelope_behind_the_configured_inbox()
    {
        var queue = Queue("configured-orders");
        var host = await StartAsync(relay: true, o =>
        {
            o.Configuration = new()
            {
                ["DomainEvents:Relay:BatchSize"] = "7",
                ["DomainEvents:Relay:MaxAttempts"] = "9",
                [$"DomainEvents:Exchanges:{Exchange}:Envelope"] = "PlainJson",
                [$"DomainEvents:Consumers:OrdersConsumer:Bindings:{Exchange}:0"] = "order.*",
                ["DomainEvents:Consumers:OrdersConsumer:QueueName"] = queue,
                ["DomainEvents:Consumers:OrdersConsumer:Parallelism"] = "4",
                ["DomainEvents:Consumers:OrdersConsumer:Inbox"] = nameof(BillingDbContext),
            };

            // Bound in configuration only: the code adds the consumer and nothing else.
            o.Consumers.Add((typeof(OrdersConsumer), _ => { }));
        }, relayOptions: r => r.MaxAttempts = 3);

        await host.SaveAsync(Order.Place(1), Order.Place(2), Order.Place(3));
        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count >= 3);

        var deliveries = Deliveries.Of(nameof(OrdersConsumer));
        deliveries.Should().HaveCount(3);
        deliveries.Select(d => d.Envelope.Envelope).Should().AllBeEquivalentTo(MessageEnvelope.PlainJson, "the exchange's envelope came from configuration");
        await using var scope = host.Services.CreateAsyncScope();
        var billing = scope.ServiceProvider.GetRequiredService<BillingDbContext>();

        // The consumer records a delivery before the inbox commits: the last commit may still be under way.
        await RelayingToConsumers.WaitForAsync(async () => await billing.Set<InboxMessage>().CountAsync(m => m.Consumer == typeof(OrdersConsumer).FullName) == 3, seconds: 10);
        (await billing.Receipts.CountAsync()).Should().Be(3, "the consumer's effects committed with the inbox rows named in configuration");

        var relay = host.Services.GetServices<IHostedService>().OfType<OutboxRelay<ShopDbContext>>().Single();
        relay.Options.BatchSize.Should().Be(7, "configuration sets what the code leaves alone");
        relay.Options.MaxAttempts.Should().Be(3, "what the code sets wins over configuration");
        relay.Options.PollingInterval.Should().Be(TimeSpan.FromMilliseconds(200));
    }

    [Test]
    public async Task Handlers_without_a_class_receive_one_type_typed_and_every_type_as_json_and_the_inbox_keeps_their_effects_once()
    {
        var audit = Queue("order-audit");
        var everything = Queue("everything-json");
        var json = new ConcurrentQueue<(string Type, int Version, string? RoutingKey, string Payload)>();
        var host = await StartAsync(relay: true, o =>
        {
            // The typed handler is bound in configuration, under its name.
            o.Configuration = new() { [$"DomainEvents:Consumers:{audit}:Bindings:{Exchange}"] = "order.placed" };
            o.ConfigureMassTransit = x =>
            {
                x.AddIntegrationEventHandler<OrderPlaced>(audit, async context =>
                {
                    var billing = context.GetPayload<IServiceProvider>().GetRequiredService<BillingDbContext>();
                    billing.Receipts.Add(new Receipt { Consumer = audit, MessageId = context.MessageId!.Value, OrderId = context.Message.OrderId, Sequence = context.Message.Sequence });
                    await billing.SaveChangesAsync();
                    Deliveries.Add(new Delivery(audit, context.Message, context.GetIntegrationEventEnvelope(), null));
                }, c => c.UseInbox<BillingDbContext>());
                x.AddIntegrationEventHandler(everything, context =>
                {
                    var envelope = context.GetIntegrationEventEnvelope();
                    json.Enqueue((envelope.MessageType, envelope.Version, envelope.RoutingKey, context.Message.Payload.GetRawText()));
                    Deliveries.Add(new Delivery(everything, context.Message, envelope, envelope.RoutingKey));
                    return Task.CompletedTask;
                }, c => c.Bind(Exchange, "#").Ignore("invoice.refunded"));
            };
        });

        var order = Order.Place(5);
        var invoice = Invoice.Pay(12.5m);
        await host.SaveAsync(order, invoice);
        await Deliveries.WaitUntilAsync(d => d.Of(audit).Count >= 1 && d.Of(everything).Count >= 2);

        var typed = Deliveries.Of(audit).Single();
        typed.Message.Should().BeOfType<OrderPlaced>().Which.Sequence.Should().Be(5);
        json.Select(j => j.Type).Should().BeEquivalentTo(["order.placed", "invoice.paid"]);
        json.Single(j => j.Type == "invoice.paid").Payload.Should().Contain("12.5");
        json.Single(j => j.Type == "order.placed").Should().Match<(string, int Version, string? RoutingKey, string Payload)>(j => j.Version == 1 && j.RoutingKey == "order.placed" && j.Payload.Contains("\"sequence\":5"));
        await using var scope = host.Services.CreateAsyncScope();
        var billing = scope.ServiceProvider.GetRequiredService<BillingDbContext>();
        await RelayingToConsumers.WaitForAsync(async () => await billing.Set<InboxMessage>().Where(m => m.Consumer == audit).CountAsync() >= 1, seconds: 10);
        (await billing.Set<InboxMessage>().Where(m => m.Consumer == audit).CountAsync()).Should().Be(1, "the handler's inbox is kept under its name");
        (await billing.Receipts.CountAsync(r => r.Consumer == audit)).Should().Be(1);
    }
}
