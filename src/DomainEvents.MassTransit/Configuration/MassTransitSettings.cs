using DomainEvents.Errors;
using DomainEvents.MassTransit.Consumers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Configuration;

/// <summary>
/// Reads the MassTransit keys of the <c>DomainEvents</c> configuration section: the relay's exchanges, envelopes and
/// versioned routing keys, and the consumers' bindings and settings (<c>DomainEvents:Consumers:NAME</c>).
/// </summary>
internal static class MassTransitSettings
{
    private static readonly string[] ExchangeKeys = ["Type", "Envelope", "VersionInRoutingKey"];
    private static readonly string[] MessageTypeKeys = ["Envelope", "VersionInRoutingKey"];
    private static readonly string[] ConsumerLists = ["Bindings", "Ignore", "Inbox", nameof(IntegrationEventConsumerOptions.TransientDatabaseRetryIntervals)];

    /// <summary>Sets the transport's options from the section's top-level keys, before the code's.</summary>
    public static void ApplyTransport(IConfigurationSection root, MassTransitRelayOptions options)
    {
        if (Value<string>(root.GetSection(nameof(MassTransitRelayOptions.ExchangeType))) is not null)
        {
            options.ExchangeType = ExchangeType(root.GetSection(nameof(MassTransitRelayOptions.ExchangeType)));
        }

        options.Envelope = Value<MessageEnvelope?>(root.GetSection(nameof(MassTransitRelayOptions.Envelope))) ?? options.Envelope;
        options.VersionInRoutingKey = Value<bool?>(root.GetSection(nameof(MassTransitRelayOptions.VersionInRoutingKey))) ?? options.VersionInRoutingKey;
        foreach (var exchange in Entries(root.GetSection("Exchanges"), "an exchange's settings, such as { \"Type\": \"direct\" }"))
        {
            DomainEventsConfiguration.CheckKeys(exchange, ExchangeKeys);
            if (exchange.GetSection("Type").Value is not null)
            {
                options.ExchangeTypes[exchange.Key] = ExchangeType(exchange.GetSection("Type"));
            }

            if (Value<MessageEnvelope?>(exchange.GetSection("Envelope")) is { } envelope)
            {
                options.EnvelopeByExchange[exchange.Key] = envelope;
            }

            if (Value<bool?>(exchange.GetSection("VersionInRoutingKey")) == true)
            {
                options.VersionedRoutingKeyExchanges.Add(exchange.Key);
            }
        }

        foreach (var messageType in Entries(root.GetSection("MessageTypes"), "a message type's settings, such as { \"Envelope\": \"PlainJson\" }"))
        {
            DomainEventsConfiguration.CheckKeys(messageType, MessageTypeKeys);
            if (Value<MessageEnvelope?>(messageType.GetSection("Envelope")) is { } envelope)
            {
                options.EnvelopeByMessageType[messageType.Key] = envelope;
            }

            if (Value<bool?>(messageType.GetSection("VersionInRoutingKey")) == true)
            {
                options.VersionedRoutingKeyMessageTypes.Add(messageType.Key);
            }
        }

        DomainEventsConfiguration.Bind(root.GetSection("CloudEvents"), options.CloudEvents);
    }

    /// <summary>Runs the transport options' checks; a refusal where the section set transport keys names the section.</summary>
    public static void ValidateTransport(IConfigurationSection? root, MassTransitRelayOptions options)
    {
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex) when (root is not null && TransportKeys.Any(k => root.GetSection(k).Exists()))
        {
            throw new DomainEventsConfigurationException(root.Path, $"{ex.Message.Split('\n')[0].Trim()} (with the exchanges, message types and envelopes of this section and of the code).", ex);
        }
    }

    private static readonly string[] TransportKeys = ["ExchangeType", "Envelope", "VersionInRoutingKey", "Exchanges", "MessageTypes", "CloudEvents"];

    /// <summary>The named entries of a map (an exchange's or a message type's settings); a plain value or a list is refused.</summary>
    private static IEnumerable<IConfigurationSection> Entries(IConfigurationSection map, string expected)
    {
        if (map.Value is not null)
        {
            throw new DomainEventsConfigurationException(map.Path, $"expected names, each with {expected}, found one value.");
        }

        foreach (var entry in map.GetChildren())
        {
            if (entry.Value is not null || entry.Key.All(char.IsAsciiDigit))
            {
                throw new DomainEventsConfigurationException(entry.Path, $"expected {expected}{(entry.Key.All(char.IsAsciiDigit) ? ", under a name, not in a list" : "")}.");
            }

            yield return entry;
        }
    }

    /// <summary>Sets a consumer's options from <c>DomainEvents:Consumers:NAME</c>, before the code's; bindings and ignored types add to the attributes'.</summary>
    public static void ApplyConsumer(IConfigurationSection consumer, IntegrationEventConsumerOptions options, IServiceCollection services)
    {
        DomainEventsConfiguration.Bind(consumer, options, ConsumerLists);
        var bindings = consumer.GetSection("Bindings");
        if (bindings.Value is not null)
        {
            throw new DomainEventsConfigurationException(bindings.Path, "expected exchanges with their patterns, such as { \"order\": [ \"order.*\" ] }.");
        }

        foreach (var exchange in bindings.GetChildren())
        {
            // "Bindings": { "ordering": [ "order.*", "order.cancelled" ] }, or one pattern: { "ordering": "order.*" }.
            if (exchange.Key.All(char.IsAsciiDigit))
            {
                throw new DomainEventsConfigurationException(exchange.Path, "expected an exchange's name with its patterns, such as { \"order\": [ \"order.*\" ] }, not a list.");
            }

            var patterns = exchange.Value is { } single ? [single] : exchange.GetChildren().Select(p => p.Value).ToList();
            if (patterns.Count == 0 || patterns.Any(string.IsNullOrWhiteSpace))
            {
                throw new DomainEventsConfigurationException(exchange.Path, "give the exchange's routing-key patterns, such as [ \"order.*\" ] (\"#\" for all keys).");
            }

            options.Bind(exchange.Key, [.. patterns!]);
        }

        options.Ignore([.. List(consumer.GetSection("Ignore")).Select(t => t.Value!)]);
        var intervals = consumer.GetSection(nameof(IntegrationEventConsumerOptions.TransientDatabaseRetryIntervals));
        if (consumer.GetChildren().Any(c => string.Equals(c.Key, intervals.Key, StringComparison.OrdinalIgnoreCase)))
        {
            // Present, even as an empty list: none, so transient errors are left to the consumer's own retry policy.
            options.TransientDatabaseRetryIntervals = [.. List(intervals).Select(i => Value<TimeSpan?>(i) ?? TimeSpan.Zero)];
        }

        var inbox = consumer.GetSection("Inbox");
        if (inbox.Value is null && inbox.GetChildren().Any())
        {
            throw new DomainEventsConfigurationException(inbox.Path, "expected true, false or a DbContext's name, found a section.");
        }

        // true (the host's one DbContext), a DbContext's name, or false (no inbox unless the code asks for one).
        if (inbox.Value is { } value && !string.Equals(value, "false", StringComparison.OrdinalIgnoreCase))
        {
            options.UseInbox(InboxContext(inbox, services));
        }
    }

    /// <summary>
    /// Fails on a consumer the section names that this host does not have, and on one whose registration came before
    /// the configuration was given (so its keys were never read).
    /// </summary>
    public static void CheckConsumers(IConfigurationSection root, IReadOnlyList<IntegrationEventConsumerRegistration> registrations)
    {
        foreach (var consumer in root.GetSection("Consumers").GetChildren())
        {
            var registration = registrations.FirstOrDefault(r => string.Equals(r.Name, consumer.Key, StringComparison.OrdinalIgnoreCase))
                ?? throw new DomainEventsConfigurationException(consumer.Path,
                    $"names no integration event consumer of this host; it has {(registrations.Count == 0 ? "none" : string.Join(", ", registrations.Select(r => r.Name)))}.");
            if (!registration.Configured)
            {
                throw new DomainEventsConfigurationException(consumer.Path,
                    $"{registration.Name} was added before AddDomainEvents(configuration, ...), so these keys were not read: call AddDomainEvents first.");
            }
        }
    }

    /// <summary>A list of values, or one value as a list of one.</summary>
    private static IEnumerable<IConfigurationSection> List(IConfigurationSection section)
    {
        if (section.Value is { Length: > 0 })
        {
            return [section];
        }

        var items = section.GetChildren().ToList();
        return items.FirstOrDefault(i => i.Value is null) is { } nested
            ? throw new DomainEventsConfigurationException(nested.Path, "expected a value, found a section.")
            : items;
    }

    private static Type InboxContext(IConfigurationSection inbox, IServiceCollection services)
    {
        var contexts = services
            .Select(d => d.ServiceType)
            .Where(t => t != typeof(Microsoft.EntityFrameworkCore.DbContext) && typeof(Microsoft.EntityFrameworkCore.DbContext).IsAssignableFrom(t))
            .Distinct()
            .ToList();
        if (bool.TryParse(inbox.Value, out _))
        {
            return contexts.Count == 1
                ? contexts[0]
                : throw new DomainEventsConfigurationException(inbox.Path, contexts.Count == 0
                    ? "true, but this host registers no DbContext to keep the inbox in (AddDbContext before AddMassTransit)."
                    : $"true, but this host has several DbContexts ({string.Join(", ", contexts.Select(c => c.Name))}): name the one that keeps the inbox.");
        }

        return contexts.FirstOrDefault(c => string.Equals(c.Name, inbox.Value, StringComparison.Ordinal) || string.Equals(c.FullName, inbox.Value, StringComparison.Ordinal))
               ?? throw new DomainEventsConfigurationException(inbox.Path,
                   $"'{inbox.Value}' is not true, false or a DbContext this host registers ({(contexts.Count == 0 ? "none" : string.Join(", ", contexts.Select(c => c.Name)))}).");
    }

    private static string ExchangeType(IConfigurationSection section) =>
        SupportedExchangeTypes.IsSupported(section.Value)
            ? section.Value!
            : throw new DomainEventsConfigurationException(section.Path, $"'{section.Value}' is not an exchange type: use {SupportedExchangeTypes.Supported}.");

    private static T? Value<T>(IConfigurationSection section) => (T?)DomainEventsConfiguration.Convert(section, typeof(T));
}
