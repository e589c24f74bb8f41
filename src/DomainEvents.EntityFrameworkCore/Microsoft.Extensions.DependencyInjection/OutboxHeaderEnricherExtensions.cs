using DomainEvents;
using DomainEvents.EntityFrameworkCore.Outbox;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers header enrichers: headers added to every outbox row when it is written.</summary>
public static class OutboxHeaderEnricherExtensions
{
    /// <summary>Adds an enricher class, resolved from the scope of the code that saves (so it can read the current user or tenant).</summary>
    /// <typeparam name="TEnricher">The enricher.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <returns>The builder, for chaining.</returns>
    public static DomainEventsBuilder AddHeaderEnricher<TEnricher>(this DomainEventsBuilder builder)
        where TEnricher : class, IOutboxHeaderEnricher
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddScoped<IOutboxHeaderEnricher, TEnricher>();
        return builder;
    }

    /// <summary>Adds an enricher as a delegate, called with the services of the scope that saves.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="enrich">Sets headers on the row with <see cref="OutboxHeaderContext.Set"/>.</param>
    /// <returns>The builder, for chaining.</returns>
    public static DomainEventsBuilder AddHeaderEnricher(this DomainEventsBuilder builder, Action<IServiceProvider, OutboxHeaderContext> enrich)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(enrich);
        builder.Services.AddScoped<IOutboxHeaderEnricher>(services => new DelegateHeaderEnricher(services, enrich));
        return builder;
    }

    private sealed class DelegateHeaderEnricher(IServiceProvider services, Action<IServiceProvider, OutboxHeaderContext> enrich) : IOutboxHeaderEnricher
    {
        public void Enrich(OutboxHeaderContext context) => enrich(services, context);
    }
}
