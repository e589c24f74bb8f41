using DomainEvents;
using DomainEvents.EntityFrameworkCore.Backfill;
using DomainEvents.EntityFrameworkCore.ChangeEvents;
using DomainEvents.EntityFrameworkCore.Draining;
using DomainEvents.EntityFrameworkCore.Keys;
using DomainEvents.EntityFrameworkCore.Interception;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the EF Core unit of work integration.</summary>
public static class EntityFrameworkOutboxExtensions
{
    /// <summary>
    /// Makes <typeparamref name="TContext"/> dispatch domain events in <c>SaveChangesAsync</c> and write
    /// integration events to its outbox table. The context must be registered with <c>AddDbContext</c>
    /// (before or after this call) and its model must call <c>modelBuilder.AddDomainEventsOutbox()</c>. A context
    /// registered with <c>AddDbContextPool</c> or <c>AddDbContextFactory</c> fails when it is first made, with
    /// <see cref="ScopedContextRequiredException"/>: handlers run in the scope of the code that saves.
    /// </summary>
    /// <typeparam name="TContext">The application's DbContext.</typeparam>
    /// <param name="builder">The builder returned by <c>AddDomainEvents</c>.</param>
    /// <returns>The builder, for chaining.</returns>
    public static DomainEventsBuilder AddEntityFrameworkOutbox<TContext>(this DomainEventsBuilder builder)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<OutboxSignal>();
        builder.Services.TryAddSingleton<IOutboxWakeUp>(sp => sp.GetRequiredService<OutboxSignal>());
        builder.Services.AddDomainEventsHealthReporter();
        builder.Services.TryAddSingleton<OutboxMessageFactory>();
        builder.Services.TryAddSingleton<ChangeEventWriter>();
        builder.Services.TryAddScoped<DomainEventsInterceptor>();
        builder.Services.TryAddScoped<EventSourceRunner>();
        builder.Services.TryAddSingleton<DomainEvents.EntityFrameworkCore.HostRole>();
        builder.Services.TryAddSingleton<IEventSourceBackfill<TContext>, EventSourceBackfill<TContext>>();
        builder.Services.TryAddScoped<IOutboxPublisher<TContext>, OutboxPublisher<TContext>>();
        builder.Services.TryAddScoped<IOutboxAdministration<TContext>, OutboxAdministration<TContext>>();
        builder.Services.TryAddScoped<IOutboxAdministration>(sp => sp.GetRequiredService<IOutboxAdministration<TContext>>());
        if (!builder.Services.Any(d => d.ServiceType == typeof(OutboxContext) && (d.ImplementationInstance as OutboxContext)?.Type == typeof(TContext)))
        {
            builder.Services.AddSingleton(new OutboxContext(typeof(TContext)));
        }

        builder.Services.TryAddSingleton<OutboxDrain<TContext>>();
        builder.Services.TryAddSingleton<IOutboxDrain<TContext>>(sp => sp.GetRequiredService<OutboxDrain<TContext>>());
        builder.Services.TryAddSingleton<IOutboxDrain, AllOutboxesDrain>();
        var registrations = builder.Services;
        var optionsAreShared = new Lazy<bool>(() => registrations.LastOrDefault(d => d.ServiceType == typeof(DbContextOptions<TContext>))?.Lifetime == ServiceLifetime.Singleton);
        builder.Services.ConfigureDbContext<TContext>((services, options) =>
        {
            // Pooled and factory-made contexts get options built once for the application (a singleton): no request
            // scope for the handlers, and one interceptor for every context at once. Say so rather than race. (A scoped
            // context resolved from the root provider, as design-time tools do, is fine.)
            if (optionsAreShared.Value)
            {
                throw new ScopedContextRequiredException(typeof(TContext));
            }

            options.AddInterceptors(services.GetRequiredService<DomainEventsInterceptor>());
        });
        builder.OutboxContextType = typeof(TContext);
        return builder;
    }
}
