using System.Collections.Concurrent;
using System.Reflection;
using DomainEvents.Errors;

namespace DomainEvents.Messaging;

/// <summary>
/// Maps integration event CLR types to stable (message type name, version) pairs and back. Types are
/// registered at start-up from the configured assemblies and mappings; a type first seen at save time is
/// added by convention. Two types that claim the same name and version are an error.
/// </summary>
public sealed class MessageTypeRegistry
{
    private readonly ConcurrentDictionary<Type, MessageTypeDescriptor> _byType = new();
    private readonly ConcurrentDictionary<(string MessageType, int Version), MessageTypeDescriptor> _byName = new();
    private readonly ConcurrentDictionary<(string MessageType, int FromVersion), IMessageUpcaster> _upcasters = new();
    private readonly IReadOnlyDictionary<Type, IntegrationEventMapping> _mappings;
    private readonly Lock _gate = new();

    /// <summary>Initializes a registry with fluent overrides.</summary>
    /// <param name="mappings">Overrides per event type; may be empty.</param>
    public MessageTypeRegistry(IReadOnlyDictionary<Type, IntegrationEventMapping>? mappings = null)
    {
        _mappings = mappings ?? new Dictionary<Type, IntegrationEventMapping>();
    }

    /// <summary>Gets every registered descriptor.</summary>
    public IReadOnlyCollection<MessageTypeDescriptor> Descriptors => [.. _byType.Values];

    /// <summary>Registers an integration event type, or returns its descriptor if it is registered already.</summary>
    /// <param name="eventType">A type that implements <see cref="IIntegrationEvent"/>.</param>
    /// <returns>The descriptor.</returns>
    /// <exception cref="DuplicateMessageTypeException">Another type claims the same name and version.</exception>
    /// <exception cref="InvalidRoutingException">The name, exchange or routing key is invalid.</exception>
    public MessageTypeDescriptor Register(Type eventType)
    {
        ArgumentNullException.ThrowIfNull(eventType);
        if (_byType.TryGetValue(eventType, out var existing))
        {
            return existing;
        }

        if (!typeof(IIntegrationEvent).IsAssignableFrom(eventType))
        {
            throw new ArgumentException($"{eventType.FullName} does not implement {nameof(IIntegrationEvent)}.", nameof(eventType));
        }

        var descriptor = Describe(eventType);
        lock (_gate)
        {
            if (_byType.TryGetValue(eventType, out existing))
            {
                return existing;
            }

            if (_byName.TryGetValue((descriptor.MessageType, descriptor.Version), out var other))
            {
                throw new DuplicateMessageTypeException(descriptor.MessageType, descriptor.Version, other.ClrType, eventType);
            }

            _byName[(descriptor.MessageType, descriptor.Version)] = descriptor;
            _byType[eventType] = descriptor;
            return descriptor;
        }
    }

    /// <summary>Gets the descriptor of an integration event type, registering it by convention on first use.</summary>
    /// <param name="eventType">The event type.</param>
    /// <returns>The descriptor.</returns>
    public MessageTypeDescriptor GetDescriptor(Type eventType) =>
        _byType.TryGetValue(eventType, out var descriptor) ? descriptor : Register(eventType);

    /// <summary>Finds the CLR type registered for a message type name and version.</summary>
    /// <param name="messageType">The message type name.</param>
    /// <param name="version">The version.</param>
    /// <param name="descriptor">The descriptor, when found.</param>
    /// <returns><see langword="true"/> when a type is registered for that name and version.</returns>
    public bool TryResolve(string messageType, int version, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out MessageTypeDescriptor? descriptor) =>
        _byName.TryGetValue((messageType, version), out descriptor);

    /// <summary>Gets the versions registered for a message type name, in ascending order.</summary>
    /// <param name="messageType">The message type name.</param>
    /// <returns>The versions; empty when the name is unknown.</returns>
    public IReadOnlyList<int> GetVersions(string messageType) =>
        [.. _byName.Keys.Where(k => k.MessageType == messageType).Select(k => k.Version).Order()];

    /// <summary>Registers an upcaster from one version of a message type to the next.</summary>
    /// <param name="upcaster">The upcaster.</param>
    public void AddUpcaster(IMessageUpcaster upcaster)
    {
        ArgumentNullException.ThrowIfNull(upcaster);
        if (upcaster.ToVersion <= upcaster.FromVersion)
        {
            throw new ArgumentException($"An upcaster must go to a higher version ({upcaster.FromVersion} -> {upcaster.ToVersion}).", nameof(upcaster));
        }

        if (!_upcasters.TryAdd((upcaster.MessageType, upcaster.FromVersion), upcaster))
        {
            throw new ArgumentException($"An upcaster from '{upcaster.MessageType}' version {upcaster.FromVersion} is registered already.", nameof(upcaster));
        }
    }

    /// <summary>Finds the upcaster that reads a given version of a message type.</summary>
    /// <param name="messageType">The message type name.</param>
    /// <param name="fromVersion">The version to read.</param>
    /// <param name="upcaster">The upcaster, when found.</param>
    /// <returns><see langword="true"/> when one is registered.</returns>
    public bool TryGetUpcaster(string messageType, int fromVersion, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IMessageUpcaster? upcaster) =>
        _upcasters.TryGetValue((messageType, fromVersion), out upcaster);

    private MessageTypeDescriptor Describe(Type eventType)
    {
        var attribute = eventType.GetCustomAttribute<IntegrationEventAttribute>();
        _mappings.TryGetValue(eventType, out var mapping);
        var (conventionName, conventionVersion) = MessageNaming.FromTypeName(eventType.Name);

        var messageType = mapping?.MessageType ?? attribute?.MessageType ?? conventionName;
        var version = mapping?.Version ?? (attribute is { Version: > 0 } ? attribute.Version : conventionVersion);
        var exchange = mapping?.Exchange ?? attribute?.Exchange;
        var routingKey = mapping?.RoutingKey ?? attribute?.RoutingKey ?? messageType;

        RoutingValidator.ValidateName(eventType, "message type", messageType);
        if (version < 1)
        {
            throw new InvalidRoutingException(eventType, "version", version.ToString(System.Globalization.CultureInfo.InvariantCulture), "versions start at 1");
        }

        if (exchange is not null)
        {
            RoutingValidator.ValidateExchange(eventType, exchange);
        }

        RoutingValidator.ValidateRoutingKey(eventType, routingKey);
        return new MessageTypeDescriptor(eventType, messageType, version, exchange, routingKey);
    }
}
