using System.Reflection;
using DomainEvents;
using DomainEvents.Dispatching;
using DomainEvents.Messaging;
using MediatR;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers domain event dispatch.</summary>
public static class DomainEventsServiceCollectionExtensions
{
    /// <summary>
    /// Adds the domain event dispatcher, the handlers found in the configured assemblies and the message
    /// type registry. Duplicate message type names fail here, at start-up.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Configures handlers, mappings and limits.</param>
    /// <returns>A builder for the outbox and relay registrations.</returns>
    public static DomainEventsBuilder AddDomainEvents(this IServiceCollection services, Action<DomainEventsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        return Add(services, null, configure);
    }

    /// <summary>
    /// Adds domain event dispatch as <see cref="AddDomainEvents(IServiceCollection, Action{DomainEventsOptions}?)"/> does,
    /// with settings, exchanges and consumers also read from the <c>DomainEvents</c> section of
    /// <paramref name="configuration"/> (appsettings.json, environment variables such as
    /// <c>DomainEvents__Relay__BatchSize</c>). Call it before the outbox, relay and MassTransit registrations, which read
    /// their keys from the section as they are added. What the code sets wins over the same value in configuration;
    /// bindings and ignored types combine.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The application's configuration (<c>builder.Configuration</c>).</param>
    /// <param name="configure">Configures handlers, mappings and limits, after the configuration's values.</param>
    /// <returns>A builder for the outbox and relay registrations.</returns>
    /// <exception cref="DomainEvents.Errors.DomainEventsConfigurationException">A key of the section is unknown, or its value is not valid.</exception>
    public static DomainEventsBuilder AddDomainEvents(this IServiceCollection services, Microsoft.Extensions.Configuration.IConfiguration configuration, Action<DomainEventsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        return Add(services, configuration, configure);
    }

    private static DomainEventsBuilder Add(IServiceCollection services, Microsoft.Extensions.Configuration.IConfiguration? configuration, Action<DomainEventsOptions>? configure)
    {
        var options = new DomainEventsOptions();
        var settings = configuration is null ? null : new DomainEventsConfiguration(configuration.GetSection(DomainEventsConfiguration.SectionName));
        if (settings is not null)
        {
            DomainEventsConfiguration.Bind(settings.Section, options, [.. DomainEventsConfiguration.Keys.Except([nameof(DomainEventsOptions.MaxCascadeDepth), nameof(DomainEventsOptions.MaxPayloadBytes)])]);
            services.AddSingleton(settings);
        }

        configure?.Invoke(options);
        DomainEventsConfiguration.Validate(settings?.Section, options, options.Validate);

        var registry = new MessageTypeRegistry(options.Mappings);
        foreach (var mapped in options.Mappings.Keys)
        {
            registry.Register(mapped);
        }

        foreach (var assembly in options.Assemblies)
        {
            foreach (var type in LoadableTypes(assembly))
            {
                options.HasAfterCommitHandlers |= RegisterHandler(services, registry, type);
            }
        }

        foreach (var assembly in options.EventAssemblies)
        {
            foreach (var type in LoadableTypes(assembly))
            {
                if (type is { IsAbstract: false, IsInterface: false, IsGenericTypeDefinition: false } && typeof(IIntegrationEvent).IsAssignableFrom(type))
                {
                    registry.Register(type);
                }
            }
        }

        foreach (var upcaster in options.Upcasters)
        {
            registry.AddUpcaster(upcaster);
        }

        services.AddSingleton(options);
        services.AddSingleton(registry);
        services.AddSingleton<IntegrationEventSerializer>();
        services.AddScoped<IDomainEventDispatcher, MediatRDomainEventDispatcher>();
        return new DomainEventsBuilder(services, options);
    }

    /// <returns><see langword="true"/> when an after-commit handler was registered.</returns>
    private static bool RegisterHandler(IServiceCollection services, MessageTypeRegistry registry, Type type)
    {
        if (type.IsAbstract || type.IsInterface || type.IsGenericTypeDefinition)
        {
            return false;
        }

        var registeredAfterCommit = false;

        var afterCommit = type.IsDefined(typeof(AfterCommitAttribute), inherit: false);
        foreach (var contract in type.GetInterfaces())
        {
            if (!contract.IsGenericType || contract.GetGenericTypeDefinition() != typeof(INotificationHandler<>))
            {
                continue;
            }

            // The integration events that have handlers are registered now, so that name clashes fail at start-up.
            var notification = contract.GetGenericArguments()[0];
            if (notification.IsGenericType && notification.GetGenericTypeDefinition() == typeof(DomainEventNotification<>) &&
                typeof(IIntegrationEvent).IsAssignableFrom(notification.GetGenericArguments()[0]))
            {
                registry.Register(notification.GetGenericArguments()[0]);
            }

            if (afterCommit)
            {
                services.AddKeyedTransient(contract, MediatRDomainEventDispatcher.AfterCommitKey, type);
                registeredAfterCommit = true;
            }
            else if (!services.Any(d => d.ServiceType == contract && d.ImplementationType == type && !d.IsKeyedService))
            {
                services.AddTransient(contract, type);
            }
        }

        return registeredAfterCommit;
    }

    private static IEnumerable<Type> LoadableTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            return ex.Types.OfType<Type>();
        }
    }
}
