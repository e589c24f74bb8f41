using DomainEvents;
using DomainEvents.CloudEvents;
using DomainEvents.CloudEvents.Http;
using DomainEvents.EntityFrameworkCore.Relay;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the outbox relay that posts CloudEvents to an HTTP sink.</summary>
public static class CloudEventsHttpRelayExtensions
{
    /// <summary>
    /// Adds the relay as a hosted service that posts each outbox row as a CloudEvent (HTTP binary content mode) to
    /// the sink: <see cref="CloudEventsOptions.SinkUrl"/>, else the URL in the environment variable <c>K_SINK</c>
    /// that a Knative SinkBinding or ContainerSource sets. Rows get the same leases, retries, back-off and dead state
    /// as with any other transport; see <c>docs/knative.md</c> for how each HTTP answer is handled.
    /// </summary>
    /// <remarks>
    /// The sink is resolved when the host starts, not here, so tools that build the host without starting it
    /// (<c>dotnet ef</c>) work without <c>K_SINK</c>. With no sink, starting fails with <see cref="SinkNotConfiguredException"/>.
    /// </remarks>
    /// <param name="builder">The builder returned by <c>AddDomainEvents(...).AddEntityFrameworkOutbox&lt;TContext&gt;()</c>.</param>
    /// <param name="configure">CloudEvents settings: source, sink, type naming, request timeout.</param>
    /// <param name="configureRelay">Relay settings: batch size, retries, polling, retention.</param>
    /// <returns>The builder, for chaining.</returns>
    public static DomainEventsBuilder AddCloudEventsHttpRelay(
        this DomainEventsBuilder builder,
        Action<CloudEventsOptions>? configure = null,
        Action<OutboxRelayOptions>? configureRelay = null)
    {
        ArgumentNullException.ThrowIfNull(builder);

        // One sink and one source per process (as Knative gives them): a second context would share the first's transport.
        if (builder.Services.Any(d => d.ServiceType == typeof(CloudEventsOptions)))
        {
            throw new InvalidOperationException(
                "AddCloudEventsHttpRelay is registered already: a process has one CloudEvents sink (K_SINK) and source. " +
                "Relay a second context through another transport, or run it in a process of its own.");
        }

        var options = new CloudEventsOptions();
        configure?.Invoke(options);
        options.Validate();
        builder.Services.AddSingleton(options);
        builder.Services.TryAddSingleton(sp => new CloudEventMapper(sp.GetRequiredService<CloudEventsOptions>()));
        return builder.AddOutboxRelay<CloudEventsHttpTransport>(relay =>
        {
            configureRelay?.Invoke(relay);
            // The request's timeout must fire first, and count an attempt: the relay's, which starts a moment earlier, gives
            // the send up as an outage (no attempt), so a sink that never answers a message would hold its key for ever.
            var longest = relay.SendTimeout - (relay.SendTimeout / 10);
            if (options.RequestTimeout > longest)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(configure),
                    options.RequestTimeout,
                    $"CloudEventsOptions.RequestTimeout ({options.RequestTimeout}) must be shorter than the relay's SendTimeout ({relay.SendTimeout}) by a tenth of it, " +
                    $"at most {longest}: a request that times out counts an attempt, a send that times out does not. Lower the one or raise the other.");
            }
        });
    }
}
