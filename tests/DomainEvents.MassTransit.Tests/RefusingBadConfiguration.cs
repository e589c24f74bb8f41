using DomainEvents.Errors;
using DomainEvents.MassTransit.Tests.Model;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>A wrong value or key in the DomainEvents section fails at start-up with an error that names the key.</summary>
public sealed class RefusingBadConfiguration
{
    [TestCase("DomainEvents:Relay:BatchSize", "many", "'many' is not a Int32")]
    [TestCase("DomainEvents:Relay:BatchSize", "0", "'0' is not accepted")]
    [TestCase("DomainEvents:Relay:SendTimeout", "soon", "time span")]
    [TestCase("DomainEvents:Relay:PollingInterval", "60.00:00:00", "must be at most 49.17:02:47.294")]
    [TestCase("DomainEvents:Relay:MaxOutagePause", "10675199.02:48:05.4775807", "must be at most 49.17:02:47.294")]
    [TestCase("DomainEvents:Relay:BatchSzie", "10", "it has BatchSize")]
    [TestCase("DomainEvents:Consumer", "orders", "it has MaxCascadeDepth")]
    [TestCase("DomainEvents:MaxPayloadBytes", "-1", "'-1' is not accepted")]
    [TestCase("DomainEvents:Envelope", "Xml", "one of MassTransit, PlainJson")]
    [TestCase("DomainEvents:Exchanges:shop:Type", "headers", "use topic, direct or fanout")]
    [TestCase("DomainEvents:Exchanges:shop:Envelop", "PlainJson", "it has Type, Envelope, VersionInRoutingKey")]
    [TestCase("DomainEvents:Consumers:OrdersConsumer:Parallelism", "0", "'0' is not accepted")]
    [TestCase("DomainEvents:Consumers:OrdersConsumer:QueueType", "stream", "'stream' is not accepted")]
    [TestCase("DomainEvents:Consumers:OrdersConsumer:KeepOrder", "maybe", "true or false")]
    [TestCase("DomainEvents:Consumers:OrdersConsumer:Inbox", "InvoicesDbContext", "BillingDbContext")]
    [TestCase("DomainEvents:Consumers:OrdersConsumer:Bindings:0", "order.*", "not a list")]
    [TestCase("DomainEvents:Exchanges:shop", "direct", "expected an exchange's settings")]
    public void A_bad_value_names_its_key(string key, string value, string reason)
    {
        var act = () => Build(new() { [key] = value });

        act.Should().Throw<DomainEventsConfigurationException>()
            .Where(e => e.Key.Equals(key, StringComparison.OrdinalIgnoreCase) && e.Message.Contains(reason) && e.Message.StartsWith($"Configuration '{key}'"));
    }

    [Test]
    public void A_check_between_two_settings_names_the_refused_key_and_says_whose_value_it_is()
    {
        // Only SendTimeout comes from configuration; the default LeaseDuration (60 s) is then under four times it.
        var act = () => Build(new() { ["DomainEvents:Relay:SendTimeout"] = "00:01:00" });

        act.Should().Throw<DomainEventsConfigurationException>()
            .Where(e => e.Key == "DomainEvents:Relay:LeaseDuration" && e.Message.Contains("the value 00:01:00 is the code's or the default; this section sets SendTimeout"));
    }

    [TestCase(true, new[] { 100, -1 })]
    [TestCase(true, new[] { 100, 0 })]
    [TestCase(true, new[] { 100, -2 })]
    [TestCase(false, new[] { 100, int.MaxValue })]
    public void A_wait_of_the_transient_database_retries_out_of_range_is_refused(bool keepOrder, int[] milliseconds)
    {
        // With KeepOrder the last wait repeats while the database is away: under a millisecond it would query it without pause.
        var act = () => Build([], billing: true, configureConsumer: c =>
        {
            c.UseInbox<BillingDbContext>();
            c.KeepOrder = keepOrder;
            c.TransientDatabaseRetryIntervals = [.. milliseconds.Select(m => m switch { int.MaxValue => TimeSpan.FromDays(60), -2 => TimeSpan.FromTicks(1), _ => TimeSpan.FromMilliseconds(m) })];
        });

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(Consumers.IntegrationEventConsumerOptions.TransientDatabaseRetryIntervals));
    }

    [TestCase(nameof(Consumers.InboxCleanupOptions.Retention), 0)]
    [TestCase(nameof(Consumers.InboxCleanupOptions.Retention), -1)]
    [TestCase(nameof(Consumers.InboxCleanupOptions.Interval), 0)]
    [TestCase(nameof(Consumers.InboxCleanupOptions.Interval), int.MaxValue)]
    [TestCase(nameof(Consumers.InboxCleanupOptions.BatchSize), 0)]
    public void A_setting_of_the_inbox_clean_up_out_of_range_is_refused(string setting, int value)
    {
        // A retention of zero or less would forget handled ids at once, and a redelivered message would be applied again.
        var act = () => Build([], billing: true, configureConsumer: c => c.UseInbox<BillingDbContext>(i =>
        {
            var span = value == int.MaxValue ? TimeSpan.FromDays(60) : TimeSpan.FromMinutes(value);
            switch (setting)
            {
                case nameof(i.Retention):
                    i.Retention = span;
                    break;
                case nameof(i.Interval):
                    i.Interval = span;
                    break;
                default:
                    i.BatchSize = value;
                    break;
            }
        }));

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(setting);
    }

    [Test]
    public void A_value_the_code_overrides_is_not_blamed_on_the_configuration()
    {
        var act = () => Build(new() { ["DomainEvents:Consumers:OrdersConsumer:Parallelism"] = "4" }, configureConsumer: c => c.Parallelism = 0);

        act.Should().Throw<DomainEventsConfigurationException>()
            .Where(e => e.Key == "DomainEvents:Consumers:OrdersConsumer:Parallelism" && e.Message.Contains("the value 0 is the code's or the default") && !e.Message.Contains("'4'"));
    }

    [Test]
    public async Task A_key_without_a_value_leaves_the_setting_as_it_is()
    {
        await using var services = Build(new() { ["DomainEvents:Consumers:OrdersConsumer:KeepOrder"] = null, ["DomainEvents:Relay:BatchSize"] = null });

        services.GetServices<Consumers.IntegrationEventConsumerRegistration>().Single().Options.KeepOrder.Should().BeTrue();
    }

    [Test]
    public void An_inbox_of_true_needs_one_DbContext_to_keep_it_in()
    {
        var act = () => Build(new() { ["DomainEvents:Consumers:OrdersConsumer:Inbox"] = "true" }, billing: true);

        act.Should().Throw<DomainEventsConfigurationException>().Where(e => e.Key == "DomainEvents:Consumers:OrdersConsumer:Inbox" && e.Message.Contains("ShopDbContext, BillingDbContext"));
    }

    [Test]
    public async Task A_consumer_the_host_does_not_have_is_named_when_the_bus_is_built()
    {
        await using var services = Build(new() { ["DomainEvents:Consumers:OrderConsumer:QueueName"] = "orders" });

        var error = BuildingTheBus(services);

        error.Key.Should().Be("DomainEvents:Consumers:OrderConsumer");
        error.Message.Should().Contain("names no integration event consumer of this host; it has OrdersConsumer");
    }

    [Test]
    public async Task A_consumer_added_before_the_configuration_is_refused_rather_than_left_unconfigured()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["DomainEvents:Consumers:OrdersConsumer:QueueName"] = "orders" }).Build();
        var services = new ServiceCollection();
        services.AddMassTransit(x =>
        {
            x.AddIntegrationEventConsumer<OrdersConsumer>(c => c.Bind("shop", "#"));
            x.UsingInMemory((context, cfg) => cfg.ConfigureIntegrationEventEndpoints(context));
        });
        services.AddDomainEvents(configuration);
        await using var provider = services.BuildServiceProvider();

        BuildingTheBus(provider).Message.Should().Contain("OrdersConsumer was added before AddDomainEvents(configuration, ...)").And.Contain("call AddDomainEvents first");
    }

    [Test]
    public async Task Configuration_and_code_combine_bindings_and_code_wins_a_value_both_set()
    {
        await using var services = Build(
            new()
            {
                ["DomainEvents:Consumers:OrdersConsumer:Bindings:billing:0"] = "invoice.*",
                ["DomainEvents:Consumers:OrdersConsumer:Bindings:billing:1"] = "refund.#",
                ["DomainEvents:Consumers:OrdersConsumer:QueueName"] = "from-configuration",
                ["DomainEvents:Consumers:OrdersConsumer:KeepOrder"] = "false",
                ["DomainEvents:Exchanges:billing:Type"] = "direct",
                ["DomainEvents:MessageTypes:order.placed:VersionInRoutingKey"] = "true",
            },
            configureConsumer: c => c.QueueName = "from-code");

        var registration = services.GetServices<Consumers.IntegrationEventConsumerRegistration>().Single();
        registration.Options.Bindings.Should().Equal(("billing", "invoice.*"), ("billing", "refund.#"), ("shop", "#"));
        registration.Queue.Should().Be("from-code");
        registration.Options.KeepOrder.Should().BeFalse();
        var transport = services.GetRequiredService<MassTransitRelayOptions>();
        transport.ExchangeTypeOf("billing").Should().Be("direct");
        transport.ExchangeTypeOf("shop").Should().Be("topic");
        transport.RoutingKeyIncludesVersion("order.placed", "shop").Should().BeTrue();
        transport.RoutingKeyIncludesVersion("invoice.paid", "shop").Should().BeFalse();
    }

    [Test]
    public async Task A_replica_consumer_without_the_inbox_is_refused_when_the_bus_is_built()
    {
        await using var provider = WithCustomerReplica(_ => { });

        var act = () => provider.GetRequiredService<IBusControl>();

        act.Should().Throw<Exception>().Which.ToString().Should().Contain("CustomerReplica is a replica consumer").And.Contain("add UseInbox<BillingDbContext>()");
    }

    [Test]
    public async Task A_replica_consumer_whose_inbox_is_in_another_context_is_refused_when_the_bus_is_built()
    {
        await using var provider = WithCustomerReplica(c => c.UseInbox<ShopDbContext>());

        var act = () => provider.GetRequiredService<IBusControl>();

        act.Should().Throw<Exception>().Which.ToString().Should().Contain("CustomerReplica keeps its copy in BillingDbContext, but its inbox is in ShopDbContext");
    }

    /// <summary>A host with Billing's customer replica, configured by <paramref name="configure"/> as well.</summary>
    private static ServiceProvider WithCustomerReplica(Action<Consumers.IntegrationEventConsumerOptions> configure)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDbContext<ShopDbContext>(o => o.UseSqlite("Data Source=:memory:"));
        services.AddDbContext<BillingDbContext>(o => o.UseSqlite("Data Source=:memory:"));
        services.AddDomainEvents(new ConfigurationBuilder().Build()).AddEntityFrameworkOutbox<ShopDbContext>().AddMassTransitRelay();
        services.AddMassTransit(x =>
        {
            x.AddIntegrationEventConsumer<CustomerReplica>(c => configure(c.Bind(ShopDbContext.CustomersExchange, "customer.*").Accept<CustomerChange>("customer.created", "customer.updated", "customer.deleted")));
            x.UsingInMemory((context, cfg) => cfg.ConfigureIntegrationEventEndpoints(context));
        });
        return services.BuildServiceProvider();
    }

    private static DomainEventsConfigurationException BuildingTheBus(IServiceProvider services)
    {
        var act = () => services.GetRequiredService<IBusControl>();
        var thrown = act.Should().Throw<Exception>().Which;
        return thrown.FindInner<DomainEventsConfigurationException>() ?? throw new AssertionException($"No configuration error in: {thrown}");
    }

    private static ServiceProvider Build(Dictionary<string, string?> values, bool billing = false, Action<Consumers.IntegrationEventConsumerOptions>? configureConsumer = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDbContext<ShopDbContext>(o => o.UseSqlite("Data Source=:memory:"));
        if (billing || values.Values.Contains("InvoicesDbContext"))
        {
            services.AddDbContext<BillingDbContext>(o => o.UseSqlite("Data Source=:memory:"));
        }

        services.AddDomainEvents(configuration).AddEntityFrameworkOutbox<ShopDbContext>().AddMassTransitRelay();
        services.AddMassTransit(x =>
        {
            x.AddIntegrationEventConsumer<OrdersConsumer>(c =>
            {
                c.Bind("shop", "#");
                configureConsumer?.Invoke(c);
            });
            x.UsingInMemory((context, cfg) => cfg.ConfigureIntegrationEventEndpoints(context));
        });
        return services.BuildServiceProvider();
    }
}

internal static class ExceptionSearch
{
    public static T? FindInner<T>(this Exception exception)
        where T : Exception
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }

            if (e is AggregateException aggregate && aggregate.InnerExceptions.Select(i => i.FindInner<T>()).FirstOrDefault(f => f is not null) is { } inner)
            {
                return inner;
            }
        }

        return null;
    }
}
