using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents;

/// <summary>Returned by <c>AddDomainEvents</c>; outbox and relay packages add their registrations to it.</summary>
public sealed class DomainEventsBuilder
{
    internal DomainEventsBuilder(IServiceCollection services, DomainEventsOptions options)
    {
        Services = services;
        Options = options;
    }

    /// <summary>Gets the service collection.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Gets the options given to <c>AddDomainEvents</c>.</summary>
    public DomainEventsOptions Options { get; }

    /// <summary>Gets the <c>DomainEvents</c> configuration section given to <c>AddDomainEvents</c>, or <see langword="null"/> when none was.</summary>
    public DomainEventsConfiguration? Configuration => DomainEventsConfiguration.Find(Services);

    /// <summary>
    /// Gets the DbContext type that holds the outbox added last (<c>AddEntityFrameworkOutbox&lt;TContext&gt;()</c>), or
    /// <see langword="null"/> before one is: the context a provider's or a transport's registration applies to. An
    /// outbox's registration sets it.
    /// </summary>
    /// <exception cref="ArgumentNullException">The value is <see langword="null"/>.</exception>
    public Type? OutboxContextType
    {
        get;
        set => field = value ?? throw new ArgumentNullException(nameof(value));
    }
}
