using DomainEvents.MassTransit.Relay;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// The broker closes a channel when it refuses an exchange, and every message in flight on that channel fails with the
/// same error: only the message to the exchange the broker names was refused; for the others it is an outage.
/// </summary>
public sealed class TellingRefusalsFromOutages
{
    [TestCase(406, "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'billing' in vhost '/': received 'topic' but current is 'direct'")]
    [TestCase(404, "NOT_FOUND - no exchange 'billing' in vhost '/'")]
    [TestCase(403, "ACCESS_REFUSED - access to exchange 'billing' in vhost '/' refused for user 'relay'")]
    public void A_channel_closed_for_an_exchange_is_a_refusal_of_that_exchange_only(int code, string text)
    {
        var closed = new AlreadyClosedException(new ShutdownEventArgs(ShutdownInitiator.Peer, (ushort)code, text));
        var failure = new InvalidOperationException("send failed", closed);

        BrokerRefusals.RefusalOf(failure, "billing").Should().BeSameAs(closed);
        BrokerRefusals.RefusalOf(failure, "ordering").Should().BeNull("a message to another exchange lost its channel: an outage, not its refusal");
        BrokerRefusals.RefusalOf(failure, "bill").Should().BeNull("the name must match whole");
    }

    [Test]
    public void A_channel_closed_for_any_other_reason_is_an_outage()
    {
        var closed = new AlreadyClosedException(new ShutdownEventArgs(ShutdownInitiator.Peer, 320, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"));

        BrokerRefusals.RefusalOf(closed, "billing").Should().BeNull();
    }
}
