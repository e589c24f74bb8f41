namespace DomainEvents.Messaging;

/// <summary>
/// How one integration event type travels: its stable message type name and version, and where it is routed.
/// </summary>
/// <param name="ClrType">The event's CLR type.</param>
/// <param name="MessageType">The stable message type name, such as <c>order.placed</c>.</param>
/// <param name="Version">The schema version, 1 or more.</param>
/// <param name="Exchange">The exchange, or <see langword="null"/> to use the raising aggregate's name in kebab-case.</param>
/// <param name="RoutingKey">The routing key.</param>
public sealed record MessageTypeDescriptor(Type ClrType, string MessageType, int Version, string? Exchange, string RoutingKey);
