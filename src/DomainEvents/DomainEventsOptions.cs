using System.Reflection;
using System.Text.Json;
using DomainEvents.Messaging;

namespace DomainEvents;

/// <summary>Settings and registrations for domain event dispatch and integration event serialization.</summary>
public sealed class DomainEventsOptions
{
    /// <summary>Rounds of dispatch allowed when handlers raise further events (default 8).</summary>
    public const int DefaultMaxCascadeDepth = 8;

    /// <summary>Largest serialized integration event payload in bytes (default 256 KiB).</summary>
    public const int DefaultMaxPayloadBytes = 256 * 1024;

    private readonly List<Assembly> _assemblies = [];
    private readonly List<Assembly> _eventAssemblies = [];
    private readonly Dictionary<Type, IntegrationEventMapping> _mappings = [];
    private readonly List<IMessageUpcaster> _upcasters = [];

    /// <summary>Gets or sets how many rounds of dispatch one save may take when handlers raise further events.</summary>
    public int MaxCascadeDepth { get; set; } = DefaultMaxCascadeDepth;

    /// <summary>Gets or sets the largest serialized integration event payload, in bytes.</summary>
    public int MaxPayloadBytes { get; set; } = DefaultMaxPayloadBytes;

    /// <summary>Gets or sets the JSON options for integration event payloads (default: <see cref="JsonSerializerDefaults.Web"/>).</summary>
    public JsonSerializerOptions JsonSerializerOptions { get; set; } = new(JsonSerializerDefaults.Web);

    internal IReadOnlyList<Assembly> Assemblies => _assemblies;

    internal IReadOnlyList<Assembly> EventAssemblies => _eventAssemblies;

    internal IReadOnlyDictionary<Type, IntegrationEventMapping> Mappings => _mappings;

    internal IReadOnlyList<IMessageUpcaster> Upcasters => _upcasters;

    /// <summary>Gets or sets whether scanning registered any handler marked <see cref="Dispatching.AfterCommitAttribute"/>.</summary>
    internal bool HasAfterCommitHandlers { get; set; }

    /// <summary>
    /// Registers every MediatR notification handler in an assembly (handlers marked
    /// <see cref="Dispatching.AfterCommitAttribute"/> run after commit), and the integration event types they handle.
    /// </summary>
    /// <param name="assembly">The assembly to scan.</param>
    /// <returns>These options, for chaining.</returns>
    public DomainEventsOptions AddHandlersFromAssembly(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        if (!_assemblies.Contains(assembly))
        {
            _assemblies.Add(assembly);
        }

        return this;
    }

    /// <summary>Registers the handlers and integration events in the assembly that holds <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">Any type in the assembly.</typeparam>
    /// <returns>These options, for chaining.</returns>
    public DomainEventsOptions AddHandlersFromAssemblyContaining<T>() => AddHandlersFromAssembly(typeof(T).Assembly);

    /// <summary>
    /// Registers every integration event type in an assembly at start-up, so that two types claiming the same
    /// message type name and version fail then rather than at the first save. Types not registered are added
    /// by convention when first saved.
    /// </summary>
    /// <param name="assembly">The assembly to scan, usually the domain assembly.</param>
    /// <returns>These options, for chaining.</returns>
    public DomainEventsOptions AddIntegrationEventsFromAssembly(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        if (!_eventAssemblies.Contains(assembly))
        {
            _eventAssemblies.Add(assembly);
        }

        return this;
    }

    /// <summary>Overrides the routing of one integration event type.</summary>
    /// <typeparam name="TEvent">The event type.</typeparam>
    /// <param name="configure">Sets the values to override.</param>
    /// <returns>These options, for chaining.</returns>
    public DomainEventsOptions MapIntegrationEvent<TEvent>(Action<IntegrationEventMapping> configure)
        where TEvent : IIntegrationEvent
    {
        ArgumentNullException.ThrowIfNull(configure);
        if (!_mappings.TryGetValue(typeof(TEvent), out var mapping))
        {
            mapping = new IntegrationEventMapping();
            _mappings[typeof(TEvent)] = mapping;
        }

        configure(mapping);
        return this;
    }

    /// <summary>Registers an upcaster that turns one version of a message type into the next.</summary>
    /// <param name="upcaster">The upcaster.</param>
    /// <returns>These options, for chaining.</returns>
    public DomainEventsOptions AddUpcaster(IMessageUpcaster upcaster)
    {
        ArgumentNullException.ThrowIfNull(upcaster);
        _upcasters.Add(upcaster);
        return this;
    }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxCascadeDepth, 1, nameof(MaxCascadeDepth));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPayloadBytes, 1, nameof(MaxPayloadBytes));
        ArgumentNullException.ThrowIfNull(JsonSerializerOptions, nameof(JsonSerializerOptions));
    }
}
