using System.Reflection;
using DomainEvents;
using DomainEvents.MassTransit;
using DomainEvents.MassTransit.Configuration;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.MassTransit.Consumers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit;

/// <summary>Reads a consumer's or a handler's bindings and settings (attributes, configuration, then code), checks them and records it.</summary>
internal static class IntegrationEventConsumerRegistrar
{
    /// <summary>Reads the consumer's bindings and settings (attributes, configuration, then code), checks them and records the consumer.</summary>
    public static void Register<TConsumer>(IBusRegistrationConfigurator configurator, string name, IReadOnlyList<Type>? messageTypes, Action<IntegrationEventConsumerOptions>? configure, Func<ConsumeContext, Task>? handler)
        where TConsumer : class, IConsumer
    {
        var options = new IntegrationEventConsumerOptions();
        foreach (var attribute in typeof(TConsumer).GetCustomAttributes<BindIntegrationEventsAttribute>())
        {
            options.Bind(attribute.Exchange, [.. attribute.RoutingKeyPatterns]);
        }

        var settings = DomainEventsConfiguration.Find(configurator);
        var section = settings?.Section.GetSection("Consumers").GetSection(name);
        if (section is not null)
        {
            MassTransitSettings.ApplyConsumer(section, options, configurator);
        }

        configure?.Invoke(options);
        DomainEventsConfiguration.Validate(section, options, () =>
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxMessageBytes, 1, nameof(IntegrationEventConsumerOptions.MaxMessageBytes));
            ArgumentOutOfRangeException.ThrowIfLessThan(options.Parallelism, 1, nameof(IntegrationEventConsumerOptions.Parallelism));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Parallelism, 1_000, nameof(IntegrationEventConsumerOptions.Parallelism));
            ValidateRetryIntervals(name, options);
            if (options.QueueType is not ("classic" or "quorum"))
            {
                throw new ArgumentException($"{name}: QueueType is 'classic' or 'quorum', not '{options.QueueType}'.", nameof(IntegrationEventConsumerOptions.QueueType));
            }

            if (!SupportedExchangeTypes.IsSupported(options.ExchangeType))
            {
                throw new ArgumentException($"{name}: ExchangeType is {SupportedExchangeTypes.Supported}, not '{options.ExchangeType}'.", nameof(IntegrationEventConsumerOptions.ExchangeType));
            }
        });
        if (options.Bindings.Count == 0)
        {
            throw new InvalidOperationException($"{name} is bound to no exchange: add [BindIntegrationEvents(\"exchange\", \"pattern\")], call Bind(...) when adding it, or give DomainEvents:Consumers:{name}:Bindings in configuration.");
        }

        messageTypes ??= typeof(TConsumer).GetInterfaces()
            .Where(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IConsumer<>))
            .Select(i => i.GetGenericArguments()[0])
            .ToList();
        foreach (var messageType in messageTypes.Where(t => !typeof(IIntegrationEvent).IsAssignableFrom(t) && (t != typeof(IntegrationEventJson) || handler is null)))
        {
            throw new InvalidOperationException(messageType == typeof(IntegrationEventJson)
                ? $"{name} consumes IntegrationEventJson, which only a handler added with AddIntegrationEventHandler(name, handler) receives."
                : $"{name} consumes {messageType.Name}, which is not an integration event: implement IIntegrationEvent on it.");
        }

        // MassTransit refuses such types only when a message arrives, and every message would then go to the error queue.
        foreach (var messageType in messageTypes)
        {
            if (string.IsNullOrEmpty(messageType.Namespace))
            {
                throw new InvalidOperationException($"{name} consumes {messageType.Name}, which is declared without a namespace: MassTransit cannot consume a message type without one. Declare it in a namespace.");
            }

            if (messageType.ContainsGenericParameters)
            {
                throw new InvalidOperationException($"{name} consumes the open generic type {messageType.Name}: MassTransit can consume only closed types.");
            }
        }

        configurator.TryAddSingleton(TimeProvider.System);
        configurator.TryAddSingleton<DomainEvents.EntityFrameworkCore.IBrokerTopology, MassTransitTopology>();
        configurator.TryAddSingleton<DomainEvents.EntityFrameworkCore.HostRole>();
        configurator.AddSingleton(new IntegrationEventConsumerRegistration(name, typeof(TConsumer), messageTypes, options, settings is not null) { Handler = handler });
        if (options.InboxContextType is { } inboxContext)
        {
            // One clean-up per inbox context, however many consumers share it.
            if (!configurator.Any(d => d.ServiceType == typeof(Microsoft.Extensions.Hosting.IHostedService) && d.ImplementationFactory?.Target is InboxCleanupMarker m && m.ContextType == inboxContext))
            {
                var marker = new InboxCleanupMarker(inboxContext, options.InboxCleanup);
                configurator.AddSingleton(new DomainEvents.EntityFrameworkCore.InboxContext(inboxContext));
                configurator.AddDomainEventsHealthReporter();
                configurator.AddSingleton<Microsoft.Extensions.Hosting.IHostedService>(marker.Create);
                // The inbox sees the database errors its consumers catch (InboxFilter): one interceptor for every context.
                WatchCommandFailuresMethod.MakeGenericMethod(inboxContext).Invoke(null, [configurator]);
            }
        }
    }

    /// <summary>
    /// Each wait of an inbox consumer is one a timer takes; on an endpoint that keeps order the last one repeats while the
    /// database is away, so it is at least a millisecond (a timer rounds a shorter one down to no wait at all).
    /// </summary>
    private static void ValidateRetryIntervals(string name, IntegrationEventConsumerOptions options)
    {
        var intervals = options.TransientDatabaseRetryIntervals;
        ArgumentNullException.ThrowIfNull(intervals, nameof(IntegrationEventConsumerOptions.TransientDatabaseRetryIntervals));
        if (options.InboxContextType is null)
        {
            return;
        }

        if (intervals.Any(i => i < TimeSpan.Zero || i > OutboxRelayOptions.MaxInterval))
        {
            throw new ArgumentOutOfRangeException(nameof(IntegrationEventConsumerOptions.TransientDatabaseRetryIntervals),
                $"{name}: each of TransientDatabaseRetryIntervals is between zero and {OutboxRelayOptions.MaxInterval}.");
        }

        if (options.KeepOrder && intervals.Count > 0 && intervals[^1] < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(IntegrationEventConsumerOptions.TransientDatabaseRetryIntervals),
                $"{name}: the last of TransientDatabaseRetryIntervals is at least 1 ms: with KeepOrder it repeats while the database is away.");
        }
    }

    private static readonly MethodInfo WatchCommandFailuresMethod =
        typeof(IntegrationEventConsumerRegistrar).GetMethod(nameof(WatchCommandFailures), BindingFlags.NonPublic | BindingFlags.Static)!;

    private static void WatchCommandFailures<TContext>(IServiceCollection services)
        where TContext : Microsoft.EntityFrameworkCore.DbContext =>
        services.ConfigureDbContext<TContext>((_, options) => options.AddInterceptors(InboxCommandFailures.Instance));

    private sealed class InboxCleanupMarker(Type contextType, InboxCleanupOptions options)
    {
        public Type ContextType { get; } = contextType;

        public Microsoft.Extensions.Hosting.IHostedService Create(IServiceProvider services) =>
            (Microsoft.Extensions.Hosting.IHostedService)ActivatorUtilities.CreateInstance(services, typeof(InboxCleanupService<>).MakeGenericType(ContextType), options);
    }
}
