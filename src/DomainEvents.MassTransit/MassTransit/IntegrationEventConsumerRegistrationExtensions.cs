using System.Reflection;
using DomainEvents;
using DomainEvents.EntityFrameworkCore.Monitoring;
using DomainEvents.MassTransit.Configuration;
using DomainEvents.MassTransit.Consumers;
using DomainEvents.Messaging;
using MassTransit.Transports.Fabric;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit;

/// <summary>Registers MassTransit consumers of integration events, bound by exchange and routing-key pattern.</summary>
public static class IntegrationEventConsumerRegistrationExtensions
{
    /// <summary>
    /// Adds a MassTransit consumer of integration events. Bind it here or with <see cref="BindIntegrationEventsAttribute"/>;
    /// its endpoint is created by <see cref="ConfigureIntegrationEventEndpoints"/>.
    /// </summary>
    /// <typeparam name="TConsumer">The consumer; its <c>IConsumer&lt;T&gt;</c> message types must be integration events.</typeparam>
    /// <param name="configurator">The MassTransit registration configurator.</param>
    /// <param name="configure">Bindings, queue name, inbox and ignored types, after those of <c>DomainEvents:Consumers:CONSUMER-CLASS-NAME</c> in configuration.</param>
    /// <returns>The consumer registration, for MassTransit's own consumer configuration.</returns>
    public static IConsumerRegistrationConfigurator<TConsumer> AddIntegrationEventConsumer<TConsumer>(
        this IBusRegistrationConfigurator configurator,
        Action<IntegrationEventConsumerOptions>? configure = null)
        where TConsumer : class, IConsumer
    {
        ArgumentNullException.ThrowIfNull(configurator);
        IntegrationEventConsumerRegistrar.Register<TConsumer>(configurator, typeof(TConsumer).Name, null, configure, null);
        return Excluded(configurator.AddConsumer<TConsumer>());
    }

    /// <summary>Adds a MassTransit consumer of integration events with its consumer definition (retry, concurrency, ...).</summary>
    /// <typeparam name="TConsumer">The consumer.</typeparam>
    /// <typeparam name="TDefinition">Its MassTransit consumer definition.</typeparam>
    /// <param name="configurator">The MassTransit registration configurator.</param>
    /// <param name="configure">Bindings, queue name, inbox and ignored types.</param>
    /// <returns>The consumer registration.</returns>
    public static IConsumerRegistrationConfigurator<TConsumer> AddIntegrationEventConsumer<TConsumer, TDefinition>(
        this IBusRegistrationConfigurator configurator,
        Action<IntegrationEventConsumerOptions>? configure = null)
        where TConsumer : class, IConsumer
        where TDefinition : class, IConsumerDefinition<TConsumer>
    {
        ArgumentNullException.ThrowIfNull(configurator);
        IntegrationEventConsumerRegistrar.Register<TConsumer>(configurator, typeof(TConsumer).Name, null, configure, null);
        return Excluded(configurator.AddConsumer<TConsumer, TDefinition>());
    }

    /// <summary>
    /// Only <see cref="ConfigureIntegrationEventEndpoints"/> configures an integration event consumer: MassTransit's own
    /// <c>ConfigureEndpoints</c> would otherwise give it a second endpoint without the receive filter and the inbox, or
    /// run it where a command left it out (<c>relay</c>, <c>consume --consumer</c>).
    /// </summary>
    private static IConsumerRegistrationConfigurator<TConsumer> Excluded<TConsumer>(IConsumerRegistrationConfigurator<TConsumer> registration)
        where TConsumer : class, IConsumer
    {
        registration.ExcludeFromConfigureEndpoints();
        return registration;
    }

    /// <summary>
    /// Creates one receive endpoint per integration event consumer: its queue bound to the configured exchanges
    /// and patterns, the registry-driven receive filter, the inbox where asked, and unknown messages sent to the
    /// error queue with their reason. Call it in <c>UsingRabbitMq</c> or <c>UsingInMemory</c>.
    /// </summary>
    /// <param name="configurator">The bus factory configurator.</param>
    /// <param name="context">The bus registration context.</param>
    public static void ConfigureIntegrationEventEndpoints(this IBusFactoryConfigurator configurator, IBusRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(context);
        var registry = context.GetService<MessageTypeRegistry>() ?? new MessageTypeRegistry();
        var jsonOptions = context.GetService<DomainEventsOptions>()?.JsonSerializerOptions ?? new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web);
        var loggerFactory = context.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var time = context.GetService<TimeProvider>() ?? TimeProvider.System;
        var drain = context.GetService<IntegrationEventDrainWatcher>();
        var registrations = context.GetServices<IntegrationEventConsumerRegistration>().ToList();
        if (context.GetService<DomainEventsConfiguration>() is { } settings)
        {
            MassTransitSettings.CheckConsumers(settings.Section, registrations);
        }

        if (context.GetService<DomainEvents.EntityFrameworkCore.HostRole>() is { } role)
        {
            if (!role.ConsumersToConfigure())
            {
                // The host runs as its relay only (the relay command): the bus publishes and consumes nothing.
                return;
            }

            // The topology --apply command: the endpoints declare their queues, exchanges and bindings, and consume nothing.
            if (role.DeploysTopologyOnly)
            {
                configurator.DeployTopologyOnly = true;
            }

            // The consume --consumer command: only the named consumers (it checked the names against the topology).
            if (role.OnlyConsumers.FirstOrDefault(n => !registrations.Any(r => string.Equals(r.Name, n, StringComparison.OrdinalIgnoreCase))) is { } unknown)
            {
                throw new InvalidOperationException($"No integration event consumer is named '{unknown}'; this host has {string.Join(", ", registrations.Select(r => r.Name))}.");
            }

            registrations.RemoveAll(r => !role.RunsConsumer(r.Name));
        }

        foreach (var registration in registrations)
        {
            var options = registration.Options;
            foreach (var (keyed, _) in options.Keys)
            {
                if (!registration.MessageTypes.Contains(keyed))
                {
                    throw new InvalidOperationException($"{registration.Name} handles {keyed.Name} once per key, but does not consume {keyed.Name}.");
                }
            }

            foreach (var (alias, clrType) in options.Aliases)
            {
                if (!registration.MessageTypes.Contains(clrType))
                {
                    throw new InvalidOperationException($"{registration.Name} accepts '{alias}' as {clrType.Name}, but does not consume {clrType.Name}.");
                }
            }

            // A handler of any type as JSON accepts what its bindings bring; the others accept their types' registered versions.
            var accepted = registration.MessageTypes
                .Where(t => !registration.TakesAnyType)
                .Select(registry.GetDescriptor)
                .Select(d => (d.MessageType, d.Version, d.ClrType))
                .Concat(options.Aliases.Select(a => (a.MessageType, registry.GetDescriptor(a.ClrType).Version, a.ClrType)))
                .Distinct()
                .GroupBy(d => d.MessageType, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => (IReadOnlyDictionary<int, Type>)g.ToDictionary(d => d.Version, d => d.ClrType), StringComparer.Ordinal);
            var queue = registration.Queue;
            drain?.Watch(queue, registration.Name, registration.TakesAnyType ? null : accepted.Keys.Where(t => !options.Ignored.Contains(t)), options.Ignored, options.Bindings, options.ExchangeType);
            configurator.ReceiveEndpoint(queue, endpoint =>
            {
                endpoint.ConfigureConsumeTopology = false;
                // Several messages of different keys at once, each key's in queue order, needs RabbitMQ's delivery tags (the
                // order filter below). Elsewhere (the in-memory transport) nothing tells the queue's order once several
                // messages are dispatched at once, so the endpoint takes one at a time.
                var keysInParallel = options.KeepOrder && options.Parallelism > 1 && endpoint is IRabbitMqReceiveEndpointConfigurator;
                if (options.KeepOrder)
                {
                    endpoint.ConcurrentMessageLimit = keysInParallel ? options.Parallelism : 1;
                    if (keysInParallel)
                    {
                        endpoint.PrefetchCount = Math.Max(endpoint.PrefetchCount, 4 * options.Parallelism);
                    }
                }

                if (options.QueueType == "quorum")
                {
                    if (endpoint is not IRabbitMqReceiveEndpointConfigurator rabbit)
                    {
                        throw new InvalidOperationException($"{registration.Name} asks for a quorum queue, which only RabbitMQ has.");
                    }

                    rabbit.SetQuorumQueue();
                }

                foreach (var (exchange, pattern) in options.Bindings)
                {
                    Bind(endpoint, exchange, options.ExchangeType, pattern);
                }

                // MassTransit 8.5 hands a content type it has no deserializer for (application/cloudevents+json, say) to the
                // endpoint's default one. With raw JSON as the default, plain JSON, both CloudEvents modes and messages
                // without a content type all reach the filter below untouched; it works out the type from the envelope.
                // The size check runs on the receive pipe, ahead of the deserializer, so a body over the maximum is never parsed.
                endpoint.ConfigureReceive(r =>
                {
                    // The order filter first: every delivery must register its place, even one the size check refuses.
                    if (keysInParallel)
                    {
                        r.UseFilter(new PartitionOrderFilter(loggerFactory.CreateLogger(registration.ConsumerType)));
                    }

                    r.UseFilter(new MessageSizeFilter(options.MaxMessageBytes));
                });
                endpoint.UseRawJsonDeserializer(RawSerializerOptions.AddTransportHeaders | RawSerializerOptions.CopyHeaders, isDefault: true);
                endpoint.ConfigureDeadLetter(d => d.UseFilter(new DeadLetterToErrorFilter()));
                // Before the dispatch by message type: the filter decides the type from the headers and the registry.
                endpoint.AddPrePipeSpecification(new MassTransit.Configuration.FilterPipeSpecification<ConsumeContext>(
                    new IntegrationEventReceiveFilter(registry, jsonOptions, accepted, options.Ignored, queue, loggerFactory.CreateLogger(registration.ConsumerType), drain) { TakesAnyType = registration.TakesAnyType }));
                ConfigureConsumerMethod.MakeGenericMethod(registration.ConsumerType, options.InboxContextType ?? typeof(Microsoft.EntityFrameworkCore.DbContext))
                    .Invoke(null, [configurator, endpoint, context, options, time, drain, queue, registration.InboxName, loggerFactory.CreateLogger(registration.ConsumerType)]);
            });
        }
    }

    private static readonly MethodInfo ConfigureConsumerMethod =
        typeof(IntegrationEventConsumerRegistrationExtensions).GetMethod(nameof(ConfigureConsumer), BindingFlags.NonPublic | BindingFlags.Static)!;

    private static void ConfigureConsumer<TConsumer, TContext>(IBusFactoryConfigurator bus, IReceiveEndpointConfigurator endpoint, IBusRegistrationContext context, IntegrationEventConsumerOptions options, TimeProvider time, IntegrationEventDrainWatcher? drain, string queue, string inboxName, ILogger logger)
        where TConsumer : class, IConsumer
        where TContext : Microsoft.EntityFrameworkCore.DbContext
    {
        endpoint.ConfigureConsumer<TConsumer>(context, consumer =>
        {
            if (options.InboxContextType is not null && options.TransientDatabaseRetryIntervals.Count > 0)
            {
                // Around the inbox: each retry runs the inbox transaction again from a clean change tracker. Stopping the bus
                // ends the waits (the message goes back to the queue), however long they would go on: the policy watches
                // the bus itself (see DatabaseOutageRetryPolicy for why not MassTransit's own stopping token).
                // A consumer that keeps order holds a message while the database is away, and reports it to the
                // domainevents-inbox health check.
                TimeSpan[] intervals = [.. options.TransientDatabaseRetryIntervals];
                var stopping = new global::MassTransit.Middleware.RetryBusObserver();
                bus.ConnectBusObserver(stopping);
                var held = options.KeepOrder
                    ? new HeldMessages(context.GetService<IDomainEventsHealthReporter>()?.Register(IDomainEventsHealthReporter.InboxConsumers, $"{typeof(TConsumer).Name} on {queue}"))
                    : null;
                consumer.UseMessageRetry(r =>
                {
                    r.Handle<Exception>(TransientDatabaseErrors.IsTransient);
                    r.SetRetryPolicy(filter => new DatabaseOutageRetryPolicy(filter, intervals, untilItAnswers: options.KeepOrder, stopping.Stopping, logger, held));
                });
            }

            if (drain is not null)
            {
                // Inside the retry, outside the inbox: an attempt that returns has committed its effects.
                consumer.UseFilter(new DrainRecordingFilter<TConsumer>(drain, queue));
            }

            if (options.InboxContextType is not null)
            {
                if (ReplicaContextOf(typeof(TConsumer)) is { } replicaContext && replicaContext != options.InboxContextType)
                {
                    // The copy would be saved by its own context, outside the inbox's transaction.
                    throw new InvalidOperationException($"{typeof(TConsumer).Name} keeps its copy in {replicaContext.Name}, but its inbox is in {options.InboxContextType.Name}: use UseInbox<{replicaContext.Name}>().");
                }

                consumer.UseFilter(new InboxFilter<TConsumer, TContext>(inboxName, time, [.. options.Keys.Select(k => k.Key)]));
            }
            else if (options.Keys.Count > 0)
            {
                throw new InvalidOperationException($"{typeof(TConsumer).Name} handles messages once per key, which the inbox records: add UseInbox<TContext>().");
            }
            else if (ReplicaContextOf(typeof(TConsumer)) is { } replicaContext)
            {
                // Without the inbox no redelivered copy is told from a new message, and no attempt that lost a race for a key
                // is run again (the retry of transient database errors comes with the inbox): it would go to the error queue.
                throw new InvalidOperationException($"{typeof(TConsumer).Name} is a replica consumer, which applies each copy in the inbox's transaction: add UseInbox<{replicaContext.Name}>().");
            }
        });
    }

    /// <summary>The DbContext a replica consumer keeps its copy in, or null for any other consumer.</summary>
    private static Type? ReplicaContextOf(Type consumer)
    {
        for (var type = consumer; type is not null; type = type.BaseType)
        {
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ReplicaConsumer<,,>))
            {
                return type.GetGenericArguments()[0];
            }
        }

        return null;
    }

    private static void Bind(IReceiveEndpointConfigurator endpoint, string exchange, string exchangeType, string pattern)
    {
        switch (endpoint)
        {
            case IRabbitMqReceiveEndpointConfigurator rabbit:
                rabbit.Bind(exchange, b =>
                {
                    b.ExchangeType = exchangeType;
                    b.RoutingKey = pattern;
                });
                break;
            case IInMemoryReceiveEndpointConfigurator memory:
                memory.Bind(exchange, exchangeType switch
                {
                    "direct" => ExchangeType.Direct,
                    "fanout" => ExchangeType.FanOut,
                    _ => ExchangeType.Topic,
                }, pattern);
                break;
            default:
                throw new NotSupportedException($"Binding by exchange and routing key is supported on RabbitMQ and the in-memory transport, not on {endpoint.GetType().Name}.");
        }
    }

    /// <summary>The consumer's name in kebab-case without a trailing "Consumer", as MassTransit names endpoints.</summary>
    internal static string DefaultQueueName(Type consumerType)
    {
        var name = consumerType.Name;
        if (name.Length > "Consumer".Length && name.EndsWith("Consumer", StringComparison.Ordinal))
        {
            name = name[..^"Consumer".Length];
        }

        return MessageNaming.ToKebabCase(name);
    }
}
