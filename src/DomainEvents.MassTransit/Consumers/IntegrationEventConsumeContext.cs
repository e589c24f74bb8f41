using global::MassTransit;
using global::MassTransit.Context;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// A consume context that carries an event already resolved through the message type registry, so the
/// consumer of the local CLR type receives it whatever type name or envelope the producer used. Its message id is
/// the envelope's, so <c>context.MessageId</c> is right for foreign publishers that set no AMQP message-id.
/// </summary>
internal sealed class IntegrationEventConsumeContext : ConsumeContextProxy
{
    private readonly object _message;
    private readonly Type _messageType;
    private readonly string[] _supportedMessageTypes;
    private readonly Guid? _messageId;

    /// <param name="context">The received message's context.</param>
    /// <param name="message">The event, resolved and deserialized.</param>
    /// <param name="messageId">The id from the envelope (plain JSON eventId, CloudEvents id), which wins over the AMQP message-id.</param>
    public IntegrationEventConsumeContext(ConsumeContext context, object message, Guid messageId)
        : base(context)
    {
        _message = message;
        _messageType = message.GetType();
        _supportedMessageTypes = [MessageUrn.ForTypeString(_messageType)];
        _messageId = messageId == Guid.Empty ? context.MessageId : messageId;
    }

    public override Guid? MessageId => _messageId;

    public override IEnumerable<string> SupportedMessageTypes => _supportedMessageTypes;

    public override bool HasMessageType(Type messageType) => messageType.IsAssignableFrom(_messageType);

    public override bool TryGetMessage<T>(out ConsumeContext<T> consumeContext)
    {
        if (_message is T message)
        {
            consumeContext = new MessageConsumeContext<T>(this, message);
            return true;
        }

        consumeContext = null!;
        return false;
    }
}
