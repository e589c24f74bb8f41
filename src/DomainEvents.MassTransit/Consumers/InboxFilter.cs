using System.Data.Common;
using DomainEvents.EntityFrameworkCore.Inbox;
using global::MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Makes a consumer's effects exactly once. In one transaction of the consumer's own DbContext it first inserts
/// the inbox row (message id, consumer) with <c>ON CONFLICT DO NOTHING</c>, then runs the consumer and commits.
/// A message seen before inserts nothing and is acknowledged and skipped without running the consumer. A copy
/// arriving while another is being handled waits on the row's key until the first commits (then it is skipped)
/// or rolls back (then it runs).
/// </summary>
internal sealed partial class InboxFilter<TConsumer, TContext> : IFilter<ConsumerConsumeContext<TConsumer>>
    where TConsumer : class
    where TContext : DbContext
{
    private readonly string _consumerName;
    private readonly TimeProvider _time;
    private InboxSql? _sql;

    public InboxFilter(string consumerName, TimeProvider time)
    {
        _consumerName = consumerName;
        _time = time;
    }

    public async Task Send(ConsumerConsumeContext<TConsumer> context, IPipe<ConsumerConsumeContext<TConsumer>> next)
    {
        // The envelope's id: for foreign publishers it comes from eventId or the CloudEvents id, not the AMQP message-id.
        var messageId = (context.TryGetPayload<IntegrationEventEnvelope>(out var envelope) && envelope.MessageId != Guid.Empty ? envelope.MessageId : context.MessageId)
                        ?? throw new InvalidOperationException("A message without a message id cannot pass the inbox.");
        var services = context.GetPayload<IServiceProvider>();
        var db = services.GetRequiredService<TContext>();
        var messageType = envelope?.MessageType ?? IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.MessageType);
        var sql = _sql ??= new InboxSql(db);

        var duplicate = false;
        var strategy = db.Database.CreateExecutionStrategy();
        await strategy.ExecuteAsync(async () =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync(context.CancellationToken).ConfigureAwait(false);
            duplicate = !await sql.TryInsertAsync(db, transaction.GetDbTransaction(), messageId, _consumerName, messageType, _time.GetUtcNow().UtcDateTime, context.CancellationToken).ConfigureAwait(false);
            if (duplicate)
            {
                return;
            }

            // The whole transaction is rolled back on failure, so savepoints around the consumer's saves buy nothing
            // but two round trips per save.
            var savepoints = db.Database.AutoSavepointsEnabled;
            db.Database.AutoSavepointsEnabled = false;
            try
            {
                await next.Send(context).ConfigureAwait(false);
                await db.SaveChangesAsync(context.CancellationToken).ConfigureAwait(false);
            }
            finally
            {
                db.Database.AutoSavepointsEnabled = savepoints;
            }

            await transaction.CommitAsync(context.CancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);

        if (duplicate)
        {
            LogDuplicate(services.GetRequiredService<ILogger<InboxFilter<TConsumer, TContext>>>(), messageType, messageId, _consumerName);
            await ErrorQueue.AcknowledgeAsync(context, "domain-events.inbox-duplicate").ConfigureAwait(false);
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("domainEventsInbox");

    [LoggerMessage(1, LogLevel.Information, "Skipped duplicate {MessageType} {MessageId} for {Consumer}")]
    private static partial void LogDuplicate(ILogger logger, string? messageType, Guid messageId, string consumer);

    /// <summary>The inbox insert for one context type and provider, written once.</summary>
    private sealed class InboxSql
    {
        private readonly string _insert;
        private readonly bool _isPostgres;
        private readonly bool _isSqlite;

        public InboxSql(DbContext db)
        {
            var entity = db.Model.FindEntityType(typeof(InboxMessage))
                         ?? throw new InvalidOperationException($"{db.GetType().Name} has no inbox table: call modelBuilder.AddDomainEventsInbox() (or AddDomainEventsOutbox()) in OnModelCreating.");
            var provider = db.Database.ProviderName ?? "";
            _isPostgres = provider.Contains("Npgsql", StringComparison.Ordinal);
            _isSqlite = provider.Contains("Sqlite", StringComparison.Ordinal);
            if (!_isPostgres && !_isSqlite)
            {
                throw new NotSupportedException($"The inbox supports PostgreSQL and SQLite; {provider} is not supported yet.");
            }

            var table = db.GetService<ISqlGenerationHelper>().DelimitIdentifier(entity.GetTableName()!, _isSqlite ? null : entity.GetSchema());
            _insert = $"INSERT INTO {table} (message_id, consumer, message_type, processed_at) VALUES (@id, @consumer, @type, @at) ON CONFLICT DO NOTHING";
        }

        /// <returns><see langword="false"/> when the row was there already: the message is a duplicate.</returns>
        public async Task<bool> TryInsertAsync(DbContext db, DbTransaction transaction, Guid messageId, string consumer, string? messageType, DateTime processedAt, CancellationToken cancellationToken)
        {
            await using var command = db.Database.GetDbConnection().CreateCommand();
            command.Transaction = transaction;
            command.CommandText = _insert;

            // EF Core stores a Guid on SQLite as upper-case text; match it so the key compares equal.
            Add(command, "id", _isSqlite ? messageId.ToString().ToUpperInvariant() : messageId);
            Add(command, "consumer", consumer);
            Add(command, "type", (object?)messageType ?? DBNull.Value).DbType = System.Data.DbType.String;
            Add(command, "at", processedAt);
            if (_isPostgres)
            {
                // Npgsql keeps the prepared statement on the pooled physical connection: planned once per connection.
                await command.PrepareAsync(cancellationToken).ConfigureAwait(false);
            }

            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
        }

        private static DbParameter Add(DbCommand command, string name, object value)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
            return parameter;
        }
    }
}
