using DomainEvents;
using DomainEvents.MassTransit;
using DomainEvents.MassTransit.Consumers;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit;

/// <summary>Registers integration event handlers as delegates, without a consumer class: the simplest consumer, like a message router's route.</summary>
public static class IntegrationEventHandlerRegistrationExtensions
{
    /// <summary>
    /// Handles one integration event type with a delegate on a queue of its own, bound like a consumer class (in
    /// <paramref name="configure"/> or under <c>DomainEvents:Consumers:NAME</c> in configuration). The delegate runs in a
    /// message scope (<c>context.GetPayload&lt;IServiceProvider&gt;()</c> resolves scoped services) and, with an inbox,
    /// in its transaction; the envelope is <c>context.GetIntegrationEventEnvelope()</c>.
    /// </summary>
    /// <typeparam name="TEvent">The integration event type.</typeparam>
    /// <param name="configurator">The MassTransit registration configurator.</param>
    /// <param name="name">The handler's name: its queue (unless <c>QueueName</c> is set), its inbox name and its configuration key.</param>
    /// <param name="handler">Handles one event; a throw goes to MassTransit's retries and then the error queue.</param>
    /// <param name="configure">Bindings, queue, inbox, order.</param>
    /// <returns>The configurator, for chaining.</returns>
    public static IBusRegistrationConfigurator AddIntegrationEventHandler<TEvent>(
        this IBusRegistrationConfigurator configurator,
        string name,
        Func<ConsumeContext<TEvent>, Task> handler,
        Action<IntegrationEventConsumerOptions>? configure = null)
        where TEvent : class, IIntegrationEvent
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add<TEvent>(configurator, name, context => handler((ConsumeContext<TEvent>)context), configure);
    }

    /// <summary>
    /// Handles every integration event its bindings bring, of any type, as JSON: the payload is
    /// <see cref="IntegrationEventJson.Payload"/>, and the message type, version and routing key are in
    /// <c>context.GetIntegrationEventEnvelope()</c>. Types listed with <c>Ignore</c> are acknowledged without it.
    /// </summary>
    /// <param name="configurator">The MassTransit registration configurator.</param>
    /// <param name="name">The handler's name: its queue (unless <c>QueueName</c> is set), its inbox name and its configuration key.</param>
    /// <param name="handler">Handles one event.</param>
    /// <param name="configure">Bindings, queue, inbox, order.</param>
    /// <returns>The configurator, for chaining.</returns>
    public static IBusRegistrationConfigurator AddIntegrationEventHandler(
        this IBusRegistrationConfigurator configurator,
        string name,
        Func<ConsumeContext<IntegrationEventJson>, Task> handler,
        Action<IntegrationEventConsumerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add<IntegrationEventJson>(configurator, name, context => handler((ConsumeContext<IntegrationEventJson>)context), configure);
    }

    private static IBusRegistrationConfigurator Add<TEvent>(IBusRegistrationConfigurator configurator, string name, Func<ConsumeContext, Task> handler, Action<IntegrationEventConsumerOptions>? configure)
        where TEvent : class
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (configurator.Any(d => d.ImplementationInstance is IntegrationEventConsumerRegistration r && string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase)))
        {
            throw new InvalidOperationException($"An integration event consumer or handler named '{name}' is added already: give each handler its own name.");
        }

        // One consumer class per event type, configured on the endpoint of each of its handlers.
        var first = !configurator.Any(d => d.ImplementationInstance is IntegrationEventConsumerRegistration r && r.ConsumerType == typeof(DelegateConsumer<TEvent>));
        IntegrationEventConsumerRegistrar.Register<DelegateConsumer<TEvent>>(configurator, name, [typeof(TEvent)], configure, handler);
        if (first)
        {
            configurator.AddConsumer<DelegateConsumer<TEvent>>();
        }

        configurator.TryAddSingleton<DelegateHandlers>();

        return configurator;
    }
}
