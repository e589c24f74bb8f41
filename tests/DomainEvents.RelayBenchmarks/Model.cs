using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.RelayBenchmarks;

/// <summary>The event every measurement sends: about 280 bytes of JSON (camelCase, as the library serializes it).</summary>
public sealed record OrderPlaced(
    Guid OrderId,
    int Sequence,
    string CustomerId,
    string Currency,
    decimal Total,
    int Lines,
    string ShippingCountry,
    DateTime PlacedAt,
    string Note) : IIntegrationEvent;

/// <summary>
/// The event of the replicas measurement (8): an order's event under a key of its own choosing, which orders saved by other
/// processes can share, so that per-key order spans the processes.
/// </summary>
public sealed record KeyedOrderPlaced(OrderPlaced Order, string PartitionKey) : IIntegrationEvent, IHasPartitionKey;

/// <summary>Builds events whose payload is the same size for every measurement.</summary>
public static class Payloads
{
    public const int TargetBytes = 280;

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly string Note = MakeNote();

    public static OrderPlaced Create(Guid orderId, int sequence) =>
        new(orderId, sequence, $"customer-{sequence % 100_000:D6}", "EUR", 1234.56m + (sequence % 100), 3, "NL",
            new DateTime(2025, 1, 1, 12, 0, 0, DateTimeKind.Utc).AddSeconds(sequence), Note);

    public static int SizeOf(OrderPlaced placed) => JsonSerializer.SerializeToUtf8Bytes(placed, Json).Length;

    private static string MakeNote()
    {
        var probe = new OrderPlaced(Guid.CreateVersion7(), 123_456, "customer-123456", "EUR", 1290.56m, 3, "NL",
            new DateTime(2025, 1, 1, 12, 0, 0, DateTimeKind.Utc), "");
        var missing = TargetBytes - JsonSerializer.SerializeToUtf8Bytes(probe, Json).Length;
        var words = "leave at the back door, ring twice; gift wrap the second parcel; invoice to the head office ";
        var note = string.Concat(Enumerable.Repeat(words, 4));
        return note[..Math.Max(0, missing)].TrimEnd().PadRight(Math.Max(0, missing), '.');
    }

    public static string Describe() => string.Create(CultureInfo.InvariantCulture, $"{SizeOf(Create(Guid.CreateVersion7(), 123_456))} bytes");
}

/// <summary>An order: saving one with an event writes the order row and one outbox row in one transaction.</summary>
public sealed class Order : AggregateRoot
{
    public Guid Id { get; private set; } = Guid.CreateVersion7();

    public int Sequence { get; private set; }

    public static Order Place(int sequence)
    {
        var order = new Order { Sequence = sequence };
        order.Raise(Payloads.Create(order.Id, sequence));
        return order;
    }

    /// <summary>An order whose event is published under <paramref name="partitionKey"/>.</summary>
    public static Order Place(int sequence, string partitionKey)
    {
        var order = new Order { Sequence = sequence };
        order.Raise(new KeyedOrderPlaced(Payloads.Create(order.Id, sequence), partitionKey));
        return order;
    }
}

/// <summary>The producing service's model: orders and the outbox.</summary>
public sealed class ShopDbContext(DbContextOptions<ShopDbContext> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Order>(b =>
        {
            b.ToTable("orders");
            b.Property(o => o.Id).ValueGeneratedNever();
        });
        modelBuilder.AddDomainEventsOutbox();
    }
}

/// <summary>What a consumer writes: one row per handled message.</summary>
public sealed class Receipt
{
    public long Id { get; set; }

    public Guid OrderId { get; set; }

    public int Sequence { get; set; }

    public decimal Total { get; set; }
}

/// <summary>The consuming service's model: receipts and the inbox (in its own database, as a real service has).</summary>
public sealed class BillingDbContext : DbContext
{
    public BillingDbContext(DbContextOptions<BillingDbContext> options)
        : base(options)
    {
        if (Experiments.NoAutoSavepoints)
        {
            Database.AutoSavepointsEnabled = false;
        }
    }

    public DbSet<Receipt> Receipts => Set<Receipt>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Receipt>().ToTable("receipts");
        modelBuilder.AddDomainEventsOutbox();
    }
}

/// <summary>Switches for investigating a missed goal (--experiment NAME); a run with one is not a report.</summary>
public static class Experiments
{
    /// <summary>no-savepoints: EF Core does not wrap SaveChanges in a savepoint inside the inbox's transaction.</summary>
    public static bool NoAutoSavepoints { get; set; }

    /// <summary>auto-prepare: Npgsql prepares statements used 5 times or more (Max Auto Prepare=16), the relay's claim among them.</summary>
    public static bool AutoPrepare { get; set; }

    /// <summary>stale-stats: the latency measurement starts on the outbox measurement 1 left behind (50,000 processed rows, statistics from before they were processed).</summary>
    public static bool StaleStatistics { get; set; }

    /// <summary>lean-inbox: instead of UseInbox, the consumer adds the inbox row to its own SaveChanges (the cheapest possible inbox, for comparison).</summary>
    public static bool LeanInbox { get; set; }

    /// <summary>lean-inbox-check: lean-inbox with the inbox filter's look-up first (AnyAsync on the id).</summary>
    public static bool LeanInboxCheck { get; set; }

    /// <summary>lean-inbox-tx: lean-inbox inside an explicit transaction without savepoints (the inbox filter without its look-up).</summary>
    public static bool LeanInboxTransaction { get; set; }

    /// <summary>
    /// lease-floor: measurement 2 also saves, leases the committed row with the relay's own statement (one at a time, on one
    /// connection) and then sends, with no relay loop: what the lease between a commit and its send costs by itself.
    /// </summary>
    public static bool LeaseFloor { get; set; }

    /// <summary>pool-N: the databases' connection pools hold at most N connections instead of 100.</summary>
    public static int? MaxPoolSize { get; set; }

    /// <summary>no-reset: Npgsql does not reset a pooled connection's session when it is returned (No Reset On Close), for every connection of the run.</summary>
    public static bool NoResetOnClose { get; set; }

    /// <summary>poll-N: every relay claims over the table at least every N ms instead of every second.</summary>
    public static TimeSpan? PollingInterval { get; set; }
}
