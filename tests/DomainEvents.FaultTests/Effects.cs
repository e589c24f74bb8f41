using DomainEvents.FaultRelay;
using MassTransit;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.FaultTests;

/// <summary>One applied effect per handled message; a second row for one message id is a double effect.</summary>
public sealed class Effect
{
    public long Id { get; set; }

    public Guid MessageId { get; set; }

    public Guid AccountId { get; set; }

    public int Sequence { get; set; }
}

/// <summary>The consuming service's model, with its inbox.</summary>
public sealed class EffectsDbContext(DbContextOptions<EffectsDbContext> options) : DbContext(options)
{
    public DbSet<Effect> Effects => Set<Effect>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddDomainEventsInbox();
}

/// <summary>Applies each deposit as an effect, behind the inbox.</summary>
public sealed class DepositedConsumer(EffectsDbContext db) : IConsumer<Deposited>
{
    public async Task Consume(ConsumeContext<Deposited> context)
    {
        db.Effects.Add(new Effect { MessageId = context.MessageId!.Value, AccountId = context.Message.AccountId, Sequence = context.Message.Sequence });
        await db.SaveChangesAsync(context.CancellationToken);
    }
}
