using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// The PostgreSQL claim is sent without its scan over keys while the claim before did not need it. When such a claim
/// finds the batch short, a claim with the scan completes the batch in a transaction of its own.
/// </summary>
[Category("Integration")]
public sealed class ClaimingPastTheWindowOnPostgreSql
{
    private static readonly OutboxClaimRequest Request = new("test#1", "test#", BatchSize: 4, DateTime.UtcNow, TimeSpan.FromMinutes(1));
    private TestHost _host = null!;
    private AsyncServiceScope _scope;
    private PostgresRelayStatements _statements = null!;
    private DbConnection _connection = null!;

    /// <summary>
    /// Statements whose first claim had a window short of the batch (one free row, then marked processed): it needed no
    /// scan over keys, so the next claim is sent without it.
    /// </summary>
    [SetUp]
    public async Task StartAsync()
    {
        _host = await TestHost.StartAsync(DatabaseProvider.PostgreSql);
        _scope = _host.Services.CreateAsyncScope();
        var db = _scope.ServiceProvider.GetRequiredService<OrderingDbContext>();
        _statements = new PostgresRelayStatements(db);
        _connection = db.Database.GetDbConnection();
        await _connection.OpenAsync();
        await SaveAsync(Row("Solo/1", attempts: 0));
        var solo = (await _statements.ClaimAsync(_connection, Request, CancellationToken.None)).Rows.Should().ContainSingle().Subject;
        (await _statements.MarkProcessedAsync(_connection, Request.Owner, [solo.Id], DateTime.UtcNow, CancellationToken.None)).Should().Be(1);
    }

    [TearDown]
    public async Task StopAsync()
    {
        await _scope.DisposeAsync();
        await _host.DisposeAsync();
    }

    [Test]
    public async Task Rows_leased_from_the_window_are_returned_when_the_claim_past_it_fails()
    {
        // The window (4 rows) holds the free key and three blocked ones, which leaves the batch short, so a claim past it
        // follows; that one fails.
        await SaveFreeKeyBlockedKeysAndAFreshKeyAsync(blocked: 8);
        await using var failing = new FailingScanConnection(_connection);

        var claim = await _statements.ClaimAsync(failing, Request with { Owner = "test#2" }, CancellationToken.None);

        failing.Failed.Should().BeTrue("the claim past the window was sent and failed");
        claim.Rows.Select(r => r.PartitionKey).Should().Equal(["Alpha/1"], "the row leased from the window is handed to the relay, not left under its lease");
        claim.MoreKeysToScan.Should().BeTrue("the keys past the window wait for the next claim");
        var zulu = (await _host.OutboxAsync()).Single(r => r.PartitionKey == "Zulu/1");
        zulu.LeaseOwner.Should().BeNull("the failed claim leased nothing");

        // The next claim scans, and finds the fresh key.
        var next = await _statements.ClaimAsync(_connection, Request with { Owner = "test#3" }, CancellationToken.None);
        next.Rows.Select(r => r.PartitionKey).Should().Equal(["Zulu/1"]);
    }

    [Test]
    public async Task The_claim_past_the_window_completes_the_batch_and_does_not_count_the_keys_just_leased_as_busy()
    {
        await SaveFreeKeyBlockedKeysAndAFreshKeyAsync(blocked: 12);

        var claim = await _statements.ClaimAsync(_connection, Request with { Owner = "test#2" }, CancellationToken.None);

        claim.Rows.Select(r => r.PartitionKey).Should().Equal(["Alpha/1", "Zulu/1"], "the free key of the window and the fresh key past it, in one batch: the claim past the window reads as many keys as a batch of 4 does (16)");
        claim.FoundBusyKeys.Should().BeFalse("no key of this relay was being sent: Alpha/1 was leased by this very claim");
        (await _host.OutboxAsync()).Where(r => r.LeaseOwner is not null).Select(r => r.PartitionKey).Should().BeEquivalentTo(["Alpha/1", "Zulu/1"]);
    }

    /// <summary>A free key ("Alpha/1"), then keys whose only row backs off for an hour, then a fresh key ("Zulu/1").</summary>
    private Task SaveFreeKeyBlockedKeysAndAFreshKeyAsync(int blocked) =>
        SaveAsync([Row("Alpha/1", attempts: 0), .. Enumerable.Range(0, blocked).Select(k => Row($"Blocked/{k:D2}", attempts: 1)), Row("Zulu/1", attempts: 0)]);

    private Task SaveAsync(params OutboxMessage[] rows) =>
        _host.InScopeAsync(async db =>
        {
            db.Set<OutboxMessage>().AddRange(rows);
            await db.SaveChangesAsync();
        });

    private static OutboxMessage Row(string key, int attempts) =>
        RelayingThroughYourOwnTransport.Row(key, attempts, attempts == 0 ? DateTime.UtcNow : DateTime.UtcNow.AddHours(1));

    /// <summary>A connection whose commands fail when they scan over keys (the claim's <c>keys</c> part); others run as they are.</summary>
    private sealed class FailingScanConnection(DbConnection inner) : DbConnection
    {
        public bool Failed { get; private set; }

        [AllowNull]
        public override string ConnectionString
        {
            get => inner.ConnectionString;
            set => inner.ConnectionString = value;
        }

        public override string Database => inner.Database;

        public override string DataSource => inner.DataSource;

        public override string ServerVersion => inner.ServerVersion;

        public override ConnectionState State => inner.State;

        public override void ChangeDatabase(string databaseName) => inner.ChangeDatabase(databaseName);

        public override void Close() => inner.Close();

        public override void Open() => inner.Open();

        protected override DbTransaction BeginDbTransaction(IsolationLevel isolationLevel) => inner.BeginTransaction(isolationLevel);

        protected override DbCommand CreateDbCommand() => new FailingScanCommand(this, inner.CreateCommand());

        private sealed class FailingScanCommand(FailingScanConnection connection, DbCommand inner) : DbCommand
        {
            [AllowNull]
            public override string CommandText
            {
                get => inner.CommandText;
                set => inner.CommandText = value;
            }

            public override int CommandTimeout
            {
                get => inner.CommandTimeout;
                set => inner.CommandTimeout = value;
            }

            public override CommandType CommandType
            {
                get => inner.CommandType;
                set => inner.CommandType = value;
            }

            public override bool DesignTimeVisible
            {
                get => inner.DesignTimeVisible;
                set => inner.DesignTimeVisible = value;
            }

            public override UpdateRowSource UpdatedRowSource
            {
                get => inner.UpdatedRowSource;
                set => inner.UpdatedRowSource = value;
            }

            protected override DbConnection? DbConnection
            {
                get => connection;
                set => throw new NotSupportedException();
            }

            protected override DbParameterCollection DbParameterCollection => inner.Parameters;

            protected override DbTransaction? DbTransaction
            {
                get => inner.Transaction;
                set => inner.Transaction = value;
            }

            public override void Cancel() => inner.Cancel();

            public override int ExecuteNonQuery() => inner.ExecuteNonQuery();

            public override object? ExecuteScalar() => inner.ExecuteScalar();

            public override void Prepare() => inner.Prepare();

            protected override DbParameter CreateDbParameter() => inner.CreateParameter();

            protected override DbDataReader ExecuteDbDataReader(CommandBehavior behavior) => throw new NotSupportedException("The relay reads asynchronously.");

            protected override Task<DbDataReader> ExecuteDbDataReaderAsync(CommandBehavior behavior, CancellationToken cancellationToken)
            {
                if (inner.CommandText.Contains("keys AS (", StringComparison.Ordinal))
                {
                    connection.Failed = true;
                    throw new TimeoutException("The claim past the window timed out (a test's failure).");
                }

                return inner.ExecuteReaderAsync(behavior, cancellationToken);
            }

            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    inner.Dispose();
                }

                base.Dispose(disposing);
            }
        }
    }
}
