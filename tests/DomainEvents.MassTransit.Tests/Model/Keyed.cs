using DomainEvents.Dispatching;
using MassTransit;

namespace DomainEvents.MassTransit.Tests.Model;

/// <summary>A receipt that raises the day's first-receipt event, which is handled once per day (a keyed event).</summary>
public sealed class DayReceipt : AggregateRoot
{
    public long Id { get; set; }

    public Guid OrderId { get; set; }

    public string Day { get; set; } = "";

    public static DayReceipt For(Guid orderId, string day)
    {
        var receipt = new DayReceipt { OrderId = orderId, Day = day };
        receipt.Raise(new FirstReceiptOfTheDay(day));
        return receipt;
    }
}

/// <summary>Handled once per day, however many receipts raise it.</summary>
public sealed record FirstReceiptOfTheDay(string Day) : IKeyedEvent
{
    public string EventKey => $"first-receipt:{Day}";
}

/// <summary>
/// Records the day's first receipt in the consumer's own save. It waits (up to 10 s) until two saves have dispatched the
/// event, so that both find the key free before either commits.
/// </summary>
public sealed class RecordFirstReceipt(BillingDbContext billing) : DomainEventHandler<FirstReceiptOfTheDay>
{
    private static int _arrived;
    private static TaskCompletionSource _both = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Whether two saves dispatched the event at once since <see cref="Reset"/>.</summary>
    public static bool Met => _both.Task.IsCompleted;

    public static void Reset()
    {
        _arrived = 0;
        _both = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    protected override async Task Handle(FirstReceiptOfTheDay domainEvent, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _arrived) == 2)
        {
            _both.TrySetResult();
        }

        await Task.WhenAny(_both.Task, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken));
        billing.Receipts.Add(new Receipt { Consumer = $"first-receipt:{domainEvent.Day}" });
    }
}

/// <summary>Writes a receipt for each order, all on one day: each save raises the day's keyed event.</summary>
public sealed class DayReceiptConsumer(BillingDbContext billing) : IConsumer<OrderPlaced>
{
    public const string Day = "2026-12-03";

    public async Task Consume(ConsumeContext<OrderPlaced> context)
    {
        billing.Add(DayReceipt.For(context.Message.OrderId, Day));
        await billing.SaveChangesAsync(context.CancellationToken);
    }
}
