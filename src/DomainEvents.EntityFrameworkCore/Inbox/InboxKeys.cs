namespace DomainEvents.EntityFrameworkCore.Inbox;

/// <summary>How inbox rows of once-per-key consumers are told from those of message ids.</summary>
internal static class InboxKeys
{
    /// <summary>
    /// The start of the consumer column of a row that records a business key: a key is handled once ever, so the
    /// clean-up of expired inbox rows leaves these.
    /// </summary>
    public const string ConsumerPrefix = "key:";
}
