using global::MassTransit;
using global::MassTransit.Context;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// A consume context that carries an event already resolved through the message type registry, so the
/// consumer of the local CLR type receives it whatever type name the producer used.
/// </summary>
internal sealed class IntegrationEventConsumeContext : ConsumeContextProxy
{
    private readonly object _message;
    private readonly Type _messageType;
    private readonly string[] _supportedMessageTypes;

    public IntegrationEventConsumeContext(ConsumeContext context, object message)
        : base(context)
    {
        _message = message;
        _messageType = message.GetType();
        _supportedMessageTypes = [MessageUrn.ForTypeString(_messageType)];
    }

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
