namespace DomainEvents.MassTransit.Consumers;

/// <summary>How one consumer of integration events is bound and guarded.</summary>
public sealed class IntegrationEventConsumerOptions
{
    private readonly List<(string Exchange, string Pattern)> _bindings = [];
    private readonly HashSet<string> _ignored = new(StringComparer.Ordinal);

    /// <summary>Gets or sets the queue name (default: the consumer's name in kebab-case without a trailing <c>Consumer</c>: <c>order-placed</c> for <c>OrderPlacedConsumer</c>).</summary>
    public string? QueueName { get; set; }

    /// <summary>Gets or sets the type of the bound exchanges: topic (default), direct or fanout.</summary>
    public string ExchangeType { get; set; } = MassTransitRelayOptions.DefaultExchangeType;

    /// <summary>
    /// Gets or sets whether the endpoint consumes one message at a time, in queue order (default <see langword="true"/>),
    /// so events of one partition key are handled in the order they were published. Set it to <see langword="false"/>
    /// for concurrency when order does not matter; MassTransit then handles several messages at once and may finish
    /// them out of order. Competing consumer instances on one queue never keep order.
    /// </summary>
    public bool KeepOrder { get; set; } = true;

    /// <summary>
    /// Gets or sets, with <see cref="KeepOrder"/>, how many messages of different partition keys (the
    /// <c>de-partition-key</c> header) the endpoint handles at once (default 1: one message at a time). Messages of one key
    /// still run one after another in queue order, on RabbitMQ by their delivery tags; on another transport the endpoint
    /// keeps to one at a time. Messages without a key are not held back.
    /// </summary>
    public int Parallelism { get; set; } = 1;

    /// <summary>
    /// Gets or sets the RabbitMQ queue type of the endpoint: <c>classic</c> (default) or <c>quorum</c> (replicated across a
    /// cluster's nodes; declare it so from the start, a queue's type cannot change).
    /// </summary>
    public string QueueType { get; set; } = "classic";

    /// <summary>Gets or sets the name recorded in the inbox for this consumer (default: the consumer's full type name).</summary>
    public string? InboxName { get; set; }

    /// <summary>The default <see cref="MaxMessageBytes"/>: twice the producer's default payload limit (512 KiB), room for any envelope.</summary>
    public const int DefaultMaxMessageBytes = 2 * DomainEventsOptions.DefaultMaxPayloadBytes;

    /// <summary>
    /// Gets or sets the largest message body this consumer reads (default <see cref="DefaultMaxMessageBytes"/>). A larger one
    /// goes to the error queue with <see cref="MessageTooLargeException"/> before it is parsed.
    /// </summary>
    public int MaxMessageBytes { get; set; } = DefaultMaxMessageBytes;

    /// <summary>The default waits of <see cref="TransientDatabaseRetryIntervals"/>: 1, 2, 5, 10, 20 and 30 s (68 s in all).</summary>
    public static readonly IReadOnlyList<TimeSpan> DefaultTransientDatabaseRetryIntervals =
        [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(30)];

    /// <summary>
    /// Gets or sets how an inbox consumer waits out a database that is away for longer than the context's execution
    /// strategy retries (a restart or a fail-over): the message is handled again after each wait, in a clean unit of
    /// work, before it would go to the error queue. Only transient database errors are retried this way (those the provider
    /// calls transient, a write refused by a server that only reads, SQLSTATE 25006, credentials the server refuses,
    /// class 28, a database that does not exist, 3D000, and SQLite's "database is locked"), and two races that a new attempt settles: a replica's
    /// <see cref="ReplicaConflictException"/>, and a save whose keyed event lost its key to a save committed at the same
    /// time (the new attempt finds the key handled and skips the event). With <see cref="KeepOrder"/> the
    /// last wait then repeats for as long as the database cannot be reached (a connection refused, lost or timed out, too
    /// many connections, a server shutting down, starting up or only reading), each time with a warning in the log: the
    /// next message of the key may not go before this one, and an outage is not the message's fault. A deadlock, a
    /// serialization failure, a statement the server cancelled or a locked SQLite database, which may be the message's own doing, ends the waits
    /// after the last one. Stopping the bus ends them too, and the message goes back to the queue.
    /// Each wait is at most <c>OutboxRelayOptions.MaxInterval</c>; with <see cref="KeepOrder"/> the last is at least
    /// 1 ms. Set it empty to leave transient errors to your own retry policy (a consumer definition's
    /// <c>UseMessageRetry</c>, say).
    /// </summary>
    public IReadOnlyList<TimeSpan> TransientDatabaseRetryIntervals { get; set; } = DefaultTransientDatabaseRetryIntervals;

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
    /// <typeparam name="TContext">The consumer service's DbContext; its model calls <c>AddDomainEventsInbox()</c> (or <c>AddDomainEventsOutbox()</c>, which adds both tables).</typeparam>
    /// <returns>These options, for chaining.</returns>
    /// <param name="configureCleanup">Changes how long handled message ids are kept (default 7 days).</param>
    public IntegrationEventConsumerOptions UseInbox<TContext>(Action<InboxCleanupOptions>? configureCleanup = null)
        where TContext : Microsoft.EntityFrameworkCore.DbContext
    {
        UseInbox(typeof(TContext));
        configureCleanup?.Invoke(InboxCleanup);
        InboxCleanup.Validate();
        return this;
    }

    /// <summary>Keeps the inbox in <paramref name="contextType"/> (a DbContext named by configuration).</summary>
    internal void UseInbox(Type contextType) => InboxContextType = contextType;

    internal InboxCleanupOptions InboxCleanup { get; } = new();

    /// <summary>
    /// Handles each business key once ever, not each message: in the inbox's transaction the consumer takes the key the
    /// selector gives in the ledger of handled keys (<c>modelBuilder.AddDomainEventsKeyedEvents()</c>), so a second
    /// message with the same key (a different message id: sent again, or raised again by the producer) is acknowledged
    /// and skipped like a duplicate; concurrent copies wait for the first. Needs <see cref="UseInbox{TContext}"/>. Keys
    /// of all the consumer's message types share one space, and are kept under the consumer's name (its inbox name):
    /// keep that name stable. A message whose selector gives an empty key, one over
    /// <see cref="InvalidMessageKeyException.MaxLength"/> characters or with a control character goes to the error queue.
    /// </summary>
    /// <typeparam name="TMessage">The message type the selector reads; messages of the consumer's other types are handled once per message id.</typeparam>
    /// <param name="key">The business key, such as <c>m =&gt; $"invoice:{m.OrderId}"</c>.</param>
    /// <returns>These options, for chaining.</returns>
    public IntegrationEventConsumerOptions OncePerKey<TMessage>(Func<TMessage, string> key)
        where TMessage : class
    {
        ArgumentNullException.ThrowIfNull(key);
        _keys.Add((typeof(TMessage), context => context.TryGetMessage<TMessage>(out var typed) ? key(typed.Message) ?? "" : null));
        return this;
    }

    private readonly List<(Type MessageType, Func<global::MassTransit.ConsumeContext, string?> Key)> _keys = [];

    /// <summary>Gets the key selectors of <see cref="OncePerKey{TMessage}"/>; each gives <see langword="null"/> for a message it does not read.</summary>
    internal IReadOnlyList<(Type MessageType, Func<global::MassTransit.ConsumeContext, string?> Key)> Keys => _keys;

    /// <summary>
    /// Hands messages of these types (every version <typeparamref name="TMessage"/> is registered with) to the consumer as
    /// <typeparamref name="TMessage"/>, besides its own type: one record for the payload several message types share,
    /// such as a change event's <c>customer.created</c>, <c>customer.updated</c> and <c>customer.deleted</c>. The
    /// envelope's <c>MessageType</c> still says which one arrived.
    /// </summary>
    /// <typeparam name="TMessage">The record the consumer consumes.</typeparam>
    /// <param name="messageTypes">Message type names, without a version suffix.</param>
    /// <returns>These options, for chaining.</returns>
    public IntegrationEventConsumerOptions Accept<TMessage>(params string[] messageTypes)
        where TMessage : class, IIntegrationEvent
    {
        ArgumentNullException.ThrowIfNull(messageTypes);
        foreach (var type in messageTypes)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(type);
            _aliases.Add((type, typeof(TMessage)));
        }

        return this;
    }

    private readonly List<(string MessageType, Type ClrType)> _aliases = [];

    /// <summary>Gets the message types handed to the consumer as another type (<see cref="Accept{TMessage}"/>).</summary>
    internal IReadOnlyList<(string MessageType, Type ClrType)> Aliases => _aliases;

    /// <summary>
    /// Acknowledges messages of these types quietly instead of treating them as unknown: they are logged at debug and
    /// counted on the <c>domainevents.consumer.ignored</c> counter of the meter <c>DomainEvents.MassTransit</c> (tags
    /// <c>MessageType</c> and <c>Endpoint</c>). Every version of an ignored type is ignored.
    /// </summary>
    /// <param name="messageTypes">Message type names, such as <c>invoice.paid</c>, without a version suffix.</param>
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
