using System.Collections.Concurrent;
using DomainEvents.Dispatching;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Tests.Model;

/// <summary>What handlers saw, in order; and switches that make them fail.</summary>
public sealed class HandlerLog
{
    public ConcurrentQueue<string> Calls { get; } = new();

    public int FailuresToInject { get; set; }

    /// <summary>When set, the after-commit handler throws what it returns.</summary>
    public Func<Exception>? AfterCommitFailure { get; set; }

    /// <summary>When set, the after-commit handler runs this SQL on the scope's context (and fails if it does).</summary>
    public string? AfterCommitStatement { get; set; }

    /// <summary>When set, the after-commit handler catches the database error of <see cref="AfterCommitStatement"/> and goes on.</summary>
    public bool AfterCommitSwallowsDatabaseErrors { get; set; }

    /// <summary>When set, <see cref="AfterCommitStatement"/> runs synchronously, so the handler completes without awaiting.</summary>
    public bool AfterCommitStatementRunsSynchronously { get; set; }

    public bool CommittedWhenAfterCommitRan { get; set; }

    public Func<bool>? ProbeCommitted { get; set; }

    public void Record(string call) => Calls.Enqueue(call);

    public IReadOnlyList<string> Of(string prefix) => [.. Calls.Where(c => c.StartsWith(prefix, StringComparison.Ordinal))];
}

/// <summary>A handler written with our thin base class.</summary>
public sealed class AuditOrderPlaced(HandlerLog log, OrderingDbContext db) : DomainEventHandler<OrderPlaced>
{
    protected override Task Handle(OrderPlaced domainEvent, CancellationToken cancellationToken)
    {
        log.Record($"audit:{domainEvent.OrderId}");
        db.AuditEntries.Add(new AuditEntry { Text = $"placed {domainEvent.OrderId}" });
        if (log.FailuresToInject > 0)
        {
            log.FailuresToInject--;
            throw new InvalidOperationException("injected handler failure");
        }

        return Task.CompletedTask;
    }
}

/// <summary>A second handler of the same event, written as a plain MediatR handler.</summary>
public sealed class CountOrderPlaced(HandlerLog log) : INotificationHandler<DomainEventNotification<OrderPlaced>>
{
    public Task Handle(DomainEventNotification<OrderPlaced> notification, CancellationToken cancellationToken)
    {
        log.Record($"count:{notification.DomainEvent.OrderId}");
        return Task.CompletedTask;
    }
}

public sealed class RecordNote(HandlerLog log) : INotificationHandler<DomainEventNotification<OrderNoteAdded>>
{
    public Task Handle(DomainEventNotification<OrderNoteAdded> notification, CancellationToken cancellationToken)
    {
        log.Record($"note:{notification.DomainEvent.Note}");
        return Task.CompletedTask;
    }
}

/// <summary>Paying an order ships it: a handler that raises a further event on a tracked aggregate.</summary>
public sealed class ShipPaidOrder(HandlerLog log, OrderingDbContext db) : DomainEventHandler<OrderPaid>
{
    protected override async Task Handle(OrderPaid domainEvent, CancellationToken cancellationToken)
    {
        log.Record($"paid:{domainEvent.OrderId}");
        var order = await db.Orders.FindAsync([domainEvent.OrderId], cancellationToken);
        order!.Ship();
    }
}

public sealed class RecordShipped(HandlerLog log) : DomainEventHandler<OrderShipped>
{
    protected override Task Handle(OrderShipped domainEvent, CancellationToken cancellationToken)
    {
        log.Record($"shipped:{domainEvent.OrderId}");
        return Task.CompletedTask;
    }
}

public sealed class PingHandler(HandlerLog log, OrderingDbContext db) : DomainEventHandler<Ping>
{
    protected override async Task Handle(Ping domainEvent, CancellationToken cancellationToken)
    {
        log.Record($"ping:{domainEvent.Round}");
        var order = await db.Orders.FindAsync([domainEvent.OrderId], cancellationToken);
        order!.RaiseEvent(new Pong(domainEvent.OrderId, domainEvent.Round + 1));
    }
}

public sealed class PongHandler(HandlerLog log, OrderingDbContext db) : DomainEventHandler<Pong>
{
    protected override async Task Handle(Pong domainEvent, CancellationToken cancellationToken)
    {
        log.Record($"pong:{domainEvent.Round}");
        var order = await db.Orders.FindAsync([domainEvent.OrderId], cancellationToken);
        order!.RaiseEvent(new Ping(domainEvent.OrderId, domainEvent.Round + 1));
    }
}

/// <summary>Runs only after the transaction commits.</summary>
[AfterCommit]
public sealed class NotifyCustomerAfterCommit(HandlerLog log, OrderingDbContext db) : DomainEventHandler<OrderPlaced>
{
    protected override async Task Handle(OrderPlaced domainEvent, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (log.AfterCommitFailure is { } failure)
        {
            throw failure();
        }

        if (log.AfterCommitStatement is { } statement)
        {
            log.Record($"after-commit-statement:{domainEvent.OrderId}");
            try
            {
                if (log.AfterCommitStatementRunsSynchronously)
                {
                    db.Database.ExecuteSqlRaw(statement);
                }
                else
                {
                    await db.Database.ExecuteSqlRawAsync(statement, cancellationToken);
                }
            }
            catch (System.Data.Common.DbException) when (log.AfterCommitSwallowsDatabaseErrors)
            {
                // A best-effort follow-up that ignores its own failure.
            }
        }

        log.Record($"after-commit:{domainEvent.OrderId}");
        log.CommittedWhenAfterCommitRan = log.ProbeCommitted?.Invoke() ?? false;
    }
}

public sealed class RecordOrderMilestone(HandlerLog log, OrderingDbContext db) : DomainEventHandler<OrderMilestone>
{
    /// <summary>The milestone whose handler starts a challenge that has already ended, for a source to see in the next round.</summary>
    public const string StartEndedChallenge = "start-ended-challenge";

    protected override Task Handle(OrderMilestone domainEvent, CancellationToken cancellationToken)
    {
        if (domainEvent.Milestone == StartEndedChallenge)
        {
            db.Challenges.Add(new Challenge { Id = domainEvent.OrderId, Title = "started by a handler", EndsAt = DateTime.UtcNow.AddMinutes(-1) });
        }

        return Recorded(log, domainEvent);
    }

    internal static Task Recorded(HandlerLog log, IDomainEvent domainEvent)
    {
        log.Record($"keyed:{domainEvent}");
        return Task.CompletedTask;
    }
}

public sealed class RecordPromotionClaimed(HandlerLog log) : DomainEventHandler<PromotionClaimed>
{
    protected override Task Handle(PromotionClaimed domainEvent, CancellationToken cancellationToken) => RecordOrderMilestone.Recorded(log, domainEvent);
}

public sealed class RecordChallengeEnded(HandlerLog log) : DomainEventHandler<ChallengeEnded>
{
    protected override Task Handle(ChallengeEnded domainEvent, CancellationToken cancellationToken) => RecordOrderMilestone.Recorded(log, domainEvent);
}

public sealed class RecordChallengeSaved(HandlerLog log) : DomainEventHandler<ChallengeSaved>
{
    protected override Task Handle(ChallengeSaved domainEvent, CancellationToken cancellationToken) => RecordOrderMilestone.Recorded(log, domainEvent);
}
