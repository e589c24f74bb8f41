namespace DomainEvents.MassTransit;

/// <summary>The RabbitMQ exchange types the relay publishes to and consumers bind: one check for options and configuration alike.</summary>
internal static class SupportedExchangeTypes
{
    /// <summary>The supported types, as error messages list them.</summary>
    public const string Supported = "topic, direct or fanout";

    public static bool IsSupported(string? type) => type is "topic" or "direct" or "fanout";
}
