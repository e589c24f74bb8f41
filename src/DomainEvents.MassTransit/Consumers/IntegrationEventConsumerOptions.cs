namespace DomainEvents.MassTransit.Consumers;

/// <summary>How one consumer of integration events is bound and guarded.</summary>
public sealed class IntegrationEventConsumerOptions
{
    private readonly List<(string Exchange, string Pattern)> _bindings = [];
    private readonly HashSet<string> _ignored = new(StringComparer.Ordinal);

    /// <summary>Gets or sets the queue name (default: the consumer's name in kebab-case).</summary>
    public string? QueueName { get; set; }

    /// <summary>Gets or sets the type of the bound exchanges: topic (default), direct or fanout.</summary>
    public string ExchangeType { get; set; } = MassTransitRelayOptions.DefaultExchangeType;

    /// <summary>Partitions used to keep per-key order while consuming concurrently (default 8).</summary>
    public const int DefaultPartitionCount = 8;

    /// <summary>
    /// Gets or sets how many partitions consume concurrently. Messages with the same partition key are consumed one
    /// at a time, in the order the queue delivers them; 0 turns this off (MassTransit's plain concurrency).
    /// </summary>
    public int PartitionCount { get; set; } = DefaultPartitionCount;

    /// <summary>Gets or sets the name recorded in the inbox for this consumer (default: the consumer's full type name).</summary>
    public string? InboxName { get; set; }

    internal IReadOnlyList<(string Exchange, string Pattern)> Bindings => _bindings;

    internal IReadOnlySet<string> Ignored => _ignored;

    internal Type? InboxContextType { get; private set; }

    /// <summary>Binds the consumer's queue to an exchange with routing-key patterns (<c>order.*</c>, <c>#</c> for all keys).</summary>
    /// <param name="exchange">The exchange.</param>
    /// <param name="routingKeyPatterns">One or more patterns.</param>
    /// <returns>These options, for chaining.</returns>
    public IntegrationEventConsumerOptions Bind(string exchange, params string[] routingKeyPatterns)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(exchange);
        ArgumentNullException.ThrowIfNull(routingKeyPatterns);
        if (routingKeyPatterns.Length == 0)
        {
            throw new ArgumentException("Give at least one routing-key pattern (use \"#\" for all keys).", nameof(routingKeyPatterns));
        }

        foreach (var pattern in routingKeyPatterns)
        {
            ArgumentNullException.ThrowIfNull(pattern);
            _bindings.Add((exchange, pattern));
        }

        return this;
    }

    /// <summary>
    /// Records each handled message id in <typeparamref name="TContext"/>'s inbox table in the same transaction
    /// as the consumer's changes, so a redelivered message is acknowledged and skipped.
    /// </summary>
    /// <typeparam name="TContext">The consumer service's DbContext; its model calls <c>AddDomainEventsOutbox()</c>.</typeparam>
    /// <returns>These options, for chaining.</returns>
    public IntegrationEventConsumerOptions UseInbox<TContext>()
        where TContext : Microsoft.EntityFrameworkCore.DbContext
    {
        InboxContextType = typeof(TContext);
        return this;
    }

    /// <summary>Acknowledges messages of these types quietly (counted and logged at debug) instead of treating them as unknown.</summary>
    /// <param name="messageTypes">Message type names.</param>
    /// <returns>These options, for chaining.</returns>
    public IntegrationEventConsumerOptions Ignore(params string[] messageTypes)
    {
        ArgumentNullException.ThrowIfNull(messageTypes);
        foreach (var type in messageTypes)
        {
            _ignored.Add(type);
        }

        return this;
    }
}
