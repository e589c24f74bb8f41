namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>
/// Adds headers to every outbox row when it is written: a tenant, a user or a request id from the current scope. The
/// headers are stored with the row and sent with the message in every envelope (as CloudEvents extensions in the
/// CloudEvents ones), and a consumer reads them from <c>IntegrationEventEnvelope.Headers</c>. Enrichers are resolved
/// from the scope of the code that saves; register them with <c>AddHeaderEnricher</c>.
/// </summary>
public interface IOutboxHeaderEnricher
{
    /// <summary>Adds headers for one row with <see cref="OutboxHeaderContext.Set"/>. An exception fails the save; nothing is committed.</summary>
    /// <param name="context">The row being written and the headers it will carry.</param>
    void Enrich(OutboxHeaderContext context);
}
