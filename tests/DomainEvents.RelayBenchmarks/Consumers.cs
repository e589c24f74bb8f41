using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.RelayBenchmarks;

/// <summary>When each order's event reached a consumer: a Stopwatch timestamp (same process) and UTC ticks (across processes).</summary>
public sealed class ArrivalRecorder
{
    private readonly ConcurrentDictionary<Guid, (long Timestamp, long UtcTicks)> _arrivals = new();

    public int Count => _arrivals.Count;

    public void Record(Guid orderId) => _arrivals.TryAdd(orderId, (Stopwatch.GetTimestamp(), DateTime.UtcNow.Ticks));

    public bool TryGet(Guid orderId, out (long Timestamp, long UtcTicks) arrival) => _arrivals.TryGetValue(orderId, out arrival);

    public async Task<bool> WaitForAsync(IEnumerable<Guid> orderIds, TimeSpan timeout)
    {
        var ids = orderIds.ToList();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (ids.All(_arrivals.ContainsKey))
            {
                return true;
            }

            await Task.Delay(20);
        }

        return false;
    }
}

/// <summary>Records arrival; does nothing else. Used behind the relay (integration event consumer) and as the plain MassTransit baseline.</summary>
public sealed class LatencyConsumer(ArrivalRecorder recorder) : IConsumer<OrderPlaced>
{
    public Task Consume(ConsumeContext<OrderPlaced> context)
    {
        recorder.Record(context.Message.OrderId);
        return Task.CompletedTask;
    }
}

/// <summary>Records the arrival of a keyed order's event (the replicas measurement).</summary>
public sealed class KeyedLatencyConsumer(ArrivalRecorder recorder) : IConsumer<KeyedOrderPlaced>
{
    public Task Consume(ConsumeContext<KeyedOrderPlaced> context)
    {
        recorder.Record(context.Message.Order.OrderId);
        return Task.CompletedTask;
    }
}

/// <summary>Counts a drain: first and last message handled.</summary>
public sealed class DrainCounter(int expected)
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _count;
    private long _first;
    private long _last;

    public long Count => Interlocked.Read(ref _count);

    public long First => Interlocked.Read(ref _first);

    public long Last => Interlocked.Read(ref _last);

    public Task Done => _done.Task;

    public void Handled()
    {
        var now = Stopwatch.GetTimestamp();
        Interlocked.CompareExchange(ref _first, now, 0);
        var count = Interlocked.Increment(ref _count);
        if (count >= expected)
        {
            Interlocked.Exchange(ref _last, now);
            _done.TrySetResult();
        }
    }
}

/// <summary>How the receipt consumer runs: with --experiment lean-inbox it records the message id itself.</summary>
public sealed record ReceiptOptions(bool RecordMessageId, bool CheckFirst = false, bool Transaction = false);

/// <summary>The consumer of the inbox measurement: writes one row to its own database and saves.</summary>
public sealed class ReceiptConsumer(BillingDbContext db, DrainCounter counter, ReceiptOptions options) : IConsumer<OrderPlaced>
{
    public async Task Consume(ConsumeContext<OrderPlaced> context)
    {
        var placed = context.Message;
        await using var transaction = options.Transaction ? await db.Database.BeginTransactionAsync(context.CancellationToken) : null;
        if (options.Transaction)
        {
            db.Database.AutoSavepointsEnabled = false;
        }

        if (options.CheckFirst)
        {
            var id = context.MessageId ?? Guid.Empty;
            if (await db.Set<DomainEvents.EntityFrameworkCore.Inbox.InboxMessage>().AnyAsync(m => m.MessageId == id && m.Consumer == nameof(ReceiptConsumer), context.CancellationToken))
            {
                return;
            }
        }

        db.Receipts.Add(new Receipt { OrderId = placed.OrderId, Sequence = placed.Sequence, Total = placed.Total });
        if (options.RecordMessageId)
        {
            // The leanest inbox: the id row in the same SaveChanges, no explicit transaction, no look-up first;
            // the (message id, consumer) key turns a duplicate into a unique violation.
            db.Add(new DomainEvents.EntityFrameworkCore.Inbox.InboxMessage
            {
                MessageId = context.MessageId ?? Guid.Empty,
                Consumer = nameof(ReceiptConsumer),
                MessageType = "order.placed",
                ProcessedAt = DateTime.UtcNow,
            });
        }

        await db.SaveChangesAsync(context.CancellationToken);
        if (transaction is not null)
        {
            await transaction.CommitAsync(context.CancellationToken);
        }

        counter.Handled();
    }
}
