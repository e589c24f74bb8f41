using Microsoft.EntityFrameworkCore;

namespace DomainEvents.MassTransit.Tests.Model;

public sealed record OrderPlaced(Guid OrderId, int Sequence) : IIntegrationEvent;

public sealed record InvoicePaid(Guid InvoiceId, decimal Amount) : IIntegrationEvent;

public sealed record InvoiceRefunded(Guid InvoiceId) : IIntegrationEvent;

public sealed class Order : AggregateRoot
{
    public Guid Id { get; private set; } = Guid.CreateVersion7();

    public int Placed { get; private set; }

    public static Order Create() => new();

    public static Order Place(int sequence = 1)
    {
        var order = new Order();
        order.PlaceAgain(sequence);
        return order;
    }

    public void PlaceAgain(int sequence)
    {
        Placed = sequence;
        Raise(new OrderPlaced(Id, sequence));
    }

    /// <summary>Places an order and raises version 2 of <c>order.placed</c>, as a producer that has moved on does.</summary>
    public static Order PlaceV2(int sequence, string currency)
    {
        var order = new Order { Placed = sequence };
        order.Raise(new OrderPlacedV2(order.Id, sequence, currency));
        return order;
    }
}

public sealed class Invoice : AggregateRoot
{
    public Guid Id { get; private set; } = Guid.CreateVersion7();

    public static Invoice Pay(decimal amount)
    {
        var invoice = new Invoice();
        invoice.Raise(new InvoicePaid(invoice.Id, amount));
        return invoice;
    }

    public void Refund() => Raise(new InvoiceRefunded(Id));
}

/// <summary>What the shop's own shipping consumer asks for after an order is placed; published without an aggregate.</summary>
[IntegrationEvent("shipment.requested")]
public sealed record ShipmentRequested(Guid OrderId, int Sequence) : IIntegrationEvent;

/// <summary>An effect of the shipping consumer in the shop's database: one per order, however often the order arrives.</summary>
public sealed class Shipment
{
    public long Id { get; set; }

    public Guid OrderId { get; set; }
}

/// <summary>A plain entity whose saves are published as change events to <see cref="ShopDbContext.CustomersExchange"/>.</summary>
public sealed class Customer
{
    public Guid Id { get; set; } = Guid.CreateVersion7();

    public string Name { get; set; } = "";

    public string PasswordHash { get; set; } = "";
}

/// <summary>The fields of a customer that its change events carry, as a consumer declares them.</summary>
public sealed record CustomerData(Guid Id, string Name);

/// <summary>The change events of customers, as a consumer declares them: named by convention <c>customer.created</c> and <c>customer.updated</c>.</summary>
public sealed record CustomerCreated(string Entity, Guid Key, string Operation, string[] Changed, CustomerData Data) : IIntegrationEvent;

public sealed record CustomerUpdated(string Entity, Guid Key, string Operation, string[] Changed, CustomerData Data) : IIntegrationEvent;

/// <summary>One record for all three of a customer's change events, as a replica consumer reads them (see <c>Accept</c>).</summary>
public sealed record CustomerChange(string Entity, Guid Key, string Operation, string[] Changed, CustomerData? Data) : IIntegrationEvent;

/// <summary>The consuming service's copy of a customer, kept by <c>CustomerReplica</c>.</summary>
public sealed class CustomerCopy
{
    public Guid Id { get; set; }

    public string Name { get; set; } = "";
}

/// <summary>The producing service's model.</summary>
public sealed class ShopDbContext(DbContextOptions<ShopDbContext> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    public DbSet<Invoice> Invoices => Set<Invoice>();

    public DbSet<Shipment> Shipments => Set<Shipment>();

    public DbSet<Customer> Customers => Set<Customer>();

    /// <summary>The exchange of customers' change events; fixed, since a model is built once per context type.</summary>
    public const string CustomersExchange = "shop-customers";

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Order>().Property(o => o.Id).ValueGeneratedNever();
        modelBuilder.Entity<Invoice>().Property(o => o.Id).ValueGeneratedNever();
        modelBuilder.Entity<Customer>().PublishChanges(c => c.ToExchange(CustomersExchange).Fields(x => new { x.Id, x.Name }));
        modelBuilder.AddDomainEventsOutbox();
    }
}

/// <summary>An effect of a consumer, stored in the consuming service's database.</summary>
public sealed class Receipt
{
    public long Id { get; set; }

    public Guid MessageId { get; set; }

    public string Consumer { get; set; } = "";

    public Guid OrderId { get; set; }

    public int Sequence { get; set; }
}

/// <summary>A running count kept by a consumer: an effect that a second application would double.</summary>
public sealed class Tally
{
    public string Name { get; set; } = "";

    public int Count { get; set; }
}

/// <summary>The consuming service's model, with its inbox.</summary>
public sealed class BillingDbContext(DbContextOptions<BillingDbContext> options) : DbContext(options)
{
    public DbSet<Receipt> Receipts => Set<Receipt>();

    public DbSet<Tally> Tallies => Set<Tally>();

    public DbSet<CustomerCopy> Customers => Set<CustomerCopy>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Tally>().HasKey(t => t.Name);
        modelBuilder.Entity<CustomerCopy>().Property(c => c.Id).ValueGeneratedNever();
        modelBuilder.Entity<DayReceipt>();
        modelBuilder.AddDomainEventsInbox();
        modelBuilder.AddDomainEventsReplicas();
        modelBuilder.AddDomainEventsKeyedEvents();
    }
}
