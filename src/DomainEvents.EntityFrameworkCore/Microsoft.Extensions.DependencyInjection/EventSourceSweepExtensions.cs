using DomainEvents;
using DomainEvents.EntityFrameworkCore.Backfill;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers scheduled backfills of event sources.</summary>
public static class EventSourceSweepExtensions
{
    /// <summary>
    /// Runs the backfill of <typeparamref name="TEntity"/> when the host starts and then every <paramref name="every"/>, so
    /// sources whose events depend on time ("ended", "ends in 2 days") yield them without a save of the entity. One run at
    /// a time across all processes with this sweep (the backfill's lease); a sweep that crashed continues from its
    /// checkpoint. Needs <c>AddEntityFrameworkOutbox&lt;TContext&gt;()</c> and a source for the entity type.
    /// </summary>
    /// <typeparam name="TContext">The DbContext that stores the entities.</typeparam>
    /// <typeparam name="TEntity">The entity type whose sources run.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="every">The interval between the end of one sweep and the start of the next.</param>
    /// <param name="configure">Adjusts the backfill's options (name, page size, lease); <see cref="BackfillOptions.Resume"/> is always on.</param>
    /// <returns>The builder, for chaining.</returns>
    public static DomainEventsBuilder AddEventSourceSweep<TContext, TEntity>(this DomainEventsBuilder builder, TimeSpan every, Action<BackfillOptions>? configure = null)
        where TContext : DbContext
        where TEntity : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(every, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(every, DomainEvents.EntityFrameworkCore.Relay.OutboxRelayOptions.MaxInterval);
        var options = new BackfillOptions();
        configure?.Invoke(options);
        options.Resume = true;
        options.Validate();
        builder.Services.AddSingleton<IHostedService>(sp => ActivatorUtilities.CreateInstance<EventSourceSweep<TContext, TEntity>>(sp, every, options));
        return builder;
    }
}
