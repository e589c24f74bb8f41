using System.Diagnostics;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.FaultRelay;
using DomainEvents.Testing;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace DomainEvents.FaultTests;

/// <summary>What one fault scenario ended with: the figures the suite asserts and prints.</summary>
public sealed record FaultReport(
    string Scenario,
    long Committed,
    long Delivered,
    long Lost,
    long Duplicates,
    long OrderBreaks,
    long DeadRows,
    long ChargedRows,
    long Effects,
    long MissingEffects,
    long DoubleEffects,
    long InErrorQueue,
    TimeSpan Elapsed)
{
    public const string Header = "| scenario | committed | delivered | lost | duplicates delivered | order breaks | dead rows | rows charged an attempt | effects | missing effects | double effects | in _error | took |";

    public override string ToString() =>
        $"| {Scenario} | {Committed} | {Delivered} | {Lost} | {Duplicates} | {OrderBreaks} | {DeadRows} | {ChargedRows} | {Effects} | {MissingEffects} | {DoubleEffects} | {InErrorQueue} | {Elapsed.TotalSeconds:0} s |";
}

/// <summary>
/// One run of the fault suite: relays as separate processes, concurrent writers racing on the same aggregates, an
/// inbox consumer, and a witness on the broker that does not use our code.
/// </summary>
public sealed class FaultRun : IAsyncDisposable
{
    private const int Accounts = 40;
    private readonly List<Process> _relays = [];
    private readonly Dictionary<Process, TaskCompletionSource> _relayWrites = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly string _logDirectory;
    private ServiceProvider _writer = null!;
    private IHost _consumer = null!;
    private Guid[] _accounts = [];

    private FaultRun(string runId, TestDatabase ledger, TestDatabase effects)
    {
        RunId = runId;
        Ledger = ledger;
        EffectsDatabase = effects;
        _logDirectory = Path.Combine(Path.GetTempPath(), $"domainevents-faults-{runId}");
        Directory.CreateDirectory(_logDirectory);
    }

    public string RunId { get; }

    public string Exchange => $"ledger-{RunId}";

    public string EffectsQueue => $"effects-{RunId}";

    public TestDatabase Ledger { get; }

    public TestDatabase EffectsDatabase { get; }

    public Witness Witness { get; private set; } = null!;

    /// <summary>Why writes failed (other than lost races), for a failing scenario's message.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> WriteErrors { get; } = new();

    /// <summary>The relay processes, in the order they were started.</summary>
    public IReadOnlyList<Process> Relays => _relays;

    public static async Task<FaultRun> StartAsync(int relays)
    {
        var run = new FaultRun(Guid.NewGuid().ToString("N")[..8], await TestDatabase.CreateAsync(DatabaseProvider.PostgreSql), await TestDatabase.CreateAsync(DatabaseProvider.PostgreSql));
        await run.InitializeAsync(relays);
        return run;
    }

    private async Task InitializeAsync(int relays)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDbContext<LedgerDbContext>(o => o.UseNpgsql(Ledger.ConnectionString));
        services.AddDomainEvents(o => o.MapIntegrationEvent<Deposited>(m => m.Exchange = Exchange))
            .AddEntityFrameworkOutbox<LedgerDbContext>()
            .AddPostgresNotifications(n => n.Listen = false);
        _writer = services.BuildServiceProvider();
        await using (var scope = _writer.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<LedgerDbContext>();
            await db.Database.EnsureCreatedAsync();
            var accounts = Enumerable.Range(0, Accounts).Select(_ => new Account()).ToList();
            db.Accounts.AddRange(accounts);
            await db.SaveChangesAsync();
            _accounts = [.. accounts.Select(a => a.Id)];
        }

        Witness = await Witness.StartAsync(TestServers.RabbitMqUri, Exchange, $"witness-{RunId}");
        _consumer = await StartConsumerAsync();
        for (var i = 0; i < relays; i++)
        {
            StartRelay($"relay-{i}");
        }
    }

    private async Task<IHost> StartConsumerAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddDbContext<EffectsDbContext>(o => o.UseNpgsql(EffectsDatabase.ConnectionString, n => n.EnableRetryOnFailure(3, TimeSpan.FromMilliseconds(500), null)));
        builder.Services.AddDomainEvents(o => o.MapIntegrationEvent<Deposited>(m => m.Exchange = Exchange));
        builder.Services.AddMassTransit(x =>
        {
            x.AddIntegrationEventConsumer<DepositedConsumer>(c =>
            {
                c.Bind(Exchange, "#");
                c.QueueName = EffectsQueue;
                c.UseInbox<EffectsDbContext>();
            });
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(TestServers.RabbitMqUri);
                cfg.ConfigureIntegrationEventEndpoints(context);
            });
        });
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        var host = builder.Build();
        await using (var scope = host.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<EffectsDbContext>().Database.EnsureCreatedAsync();
        }

        await host.StartAsync();
        return host;
    }

    /// <summary>Starts a relay in a process of its own.</summary>
    public Process StartRelay(string instance)
    {
        var relay = Path.Combine(AppContext.BaseDirectory, "DomainEvents.FaultRelay.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // Each relay process also writes for most of the scenario: its commits go to its own relay directly, racing with
        // the rows of the other processes on the same accounts.
        foreach (var argument in new[] { relay, Ledger.ConnectionString, TestServers.RabbitMqUri.ToString(), Exchange, instance, "10" })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the relay process.");
        var log = new StreamWriter(Path.Combine(_logDirectory, $"{instance}.log")) { AutoFlush = true };
        var writesDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _relayWrites[process] = writesDone;
        process.OutputDataReceived += (_, e) =>
        {
            Write(log, e.Data);
            if (e.Data == RelayProcess.WritesDone)
            {
                writesDone.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _relays.Add(process);
        return process;
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is not null)
        {
            lock (log)
            {
                log.WriteLine(line);
            }
        }
    }

    /// <summary>Waits until a relay holds a live lease, so that killing it leaves rows behind.</summary>
    public async Task WaitUntilLeasedByAsync(string instance, TimeSpan timeout)
    {
        var deadline = _clock.Elapsed + timeout;
        while (await QueryAsync(Ledger, $"SELECT count(*) FROM outbox_messages WHERE status = 0 AND lease_owner LIKE '{instance}%' AND lease_expires_at > now()") == 0)
        {
            if (_clock.Elapsed > deadline)
            {
                Assert.Fail($"{instance} held no lease within {timeout}.");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>kill -9: the relay gets no chance to finish, release or record anything.</summary>
    public void KillRelay(Process relay)
    {
        relay.Kill(entireProcessTree: false);
        _relayWrites[relay].TrySetResult();   // its writers are gone too
    }

    /// <summary>Writers race on the same aggregates; a lost race (concurrency token) or a database outage is retried.</summary>
    public async Task WriteAsync(TimeSpan duration, int writers = 8)
    {
        await WriteHereAsync(duration, writers);
        var relayWrites = Task.WhenAll(_relayWrites.Values.Select(t => t.Task));
        if (await Task.WhenAny(relayWrites, Task.Delay(TimeSpan.FromSeconds(60))) != relayWrites)
        {
            Assert.Fail("The writers of a relay process did not finish within 60 s: see its log in " + _logDirectory);
        }
    }

    private Task WriteHereAsync(TimeSpan duration, int writers) =>
        LedgerWriters.WriteAsync(_writer, _accounts, writers, seed: 0, duration, sometimesTwice: true,
            ex => WriteErrors.Enqueue($"{_clock.Elapsed.TotalSeconds:0.0}s {ex.GetType().Name}: {ex.Message}"));

    /// <summary>Waits until everything committed has reached the witness and the consumer, then counts.</summary>
    public async Task<FaultReport> SettleAsync(string scenario, TimeSpan timeout)
    {
        var committed = await CommittedAsync();
        var deadline = _clock.Elapsed + timeout;
        while (_clock.Elapsed < deadline)
        {
            var delivered = Witness.Seen.Distinct().Count();
            var effects = await QueryAsync(EffectsDatabase, "SELECT count(DISTINCT \"MessageId\") FROM \"Effects\"");
            if (delivered >= committed.Total && effects >= committed.Total)
            {
                break;
            }

            await Task.Delay(500);
        }

        await Task.Delay(1000);   // a late duplicate would land now
        return await CountAsync(scenario, committed);
    }

    private Task<(long Total, Dictionary<Guid, int> PerAccount)> CommittedAsync() =>
        RetryAsync<(long Total, Dictionary<Guid, int> PerAccount)>(async () =>
        {
            await using var scope = _writer.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<LedgerDbContext>();
            var versions = await db.Accounts.AsNoTracking().ToDictionaryAsync(a => a.Id, a => a.Version);
            return ((long)versions.Values.Sum(), versions);
        });

    /// <summary>
    /// The suite's own reads, retried: after a PostgreSQL restart the first use of a pooled connection fails with
    /// 57P01, and that is the harness's problem, not a finding about the code under test.
    /// </summary>
    private static async Task<T> RetryAsync<T>(Func<Task<T>> read)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await read();
            }
            catch (Exception ex) when (attempt < 10 && ex is Npgsql.NpgsqlException or InvalidOperationException)
            {
                await Task.Delay(500);
            }
        }
    }

    private async Task<FaultReport> CountAsync(string scenario, (long Total, Dictionary<Guid, int> PerAccount) committed)
    {
        var seen = Witness.Seen.ToArray();
        var distinct = seen.Distinct().ToHashSet();
        var lost = committed.PerAccount.Sum(a => Enumerable.Range(1, a.Value).Count(s => !distinct.Contains((a.Key, s))));

        // An order break: a message seen for the first time after a later message of its key.
        long orderBreaks = 0;
        var highest = new Dictionary<Guid, int>();
        var first = new HashSet<(Guid, int)>();
        foreach (var (account, sequence) in seen)
        {
            if (!first.Add((account, sequence)))
            {
                continue;
            }

            if (highest.TryGetValue(account, out var max) && sequence < max)
            {
                orderBreaks++;
            }

            highest[account] = Math.Max(max, sequence);
        }

        var dead = await QueryAsync(Ledger, $"SELECT count(*) FROM outbox_messages WHERE status = {(int)OutboxMessageStatus.Dead}");
        var charged = await QueryAsync(Ledger, "SELECT count(*) FROM outbox_messages WHERE attempts > 0");
        var effects = await QueryAsync(EffectsDatabase, "SELECT count(*) FROM \"Effects\"");
        var distinctEffects = await QueryAsync(EffectsDatabase, "SELECT count(DISTINCT \"MessageId\") FROM \"Effects\"");
        return new FaultReport(scenario, committed.Total, distinct.Count, lost, seen.Length - distinct.Count, orderBreaks, dead, charged, effects,
            committed.Total - distinctEffects, effects - distinctEffects, await ErrorQueueDepthAsync(), _clock.Elapsed);
    }

    private static Task<long> QueryAsync(TestDatabase database, string sql) =>
        RetryAsync(async () =>
        {
            await using var connection = new Npgsql.NpgsqlConnection(database.ConnectionString);
            await connection.OpenAsync();
            await using var command = new Npgsql.NpgsqlCommand(sql, connection);
            return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
        });

    private async Task<long> ErrorQueueDepthAsync()
    {
        var factory = new ConnectionFactory { Uri = TestServers.RabbitMqUri };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            return (await channel.QueueDeclarePassiveAsync($"{EffectsQueue}_error")).MessageCount;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return 0;   // no error queue: nothing was ever sent there
        }
    }

    /// <summary>The relays' own logs, for a failing scenario's message.</summary>
    public string RelayLogs() =>
        string.Join("\n", Directory.GetFiles(_logDirectory).Select(f => $"--- {Path.GetFileName(f)}\n{string.Join("\n", File.ReadLines(f).TakeLast(30))}"));

    public async ValueTask DisposeAsync()
    {
        foreach (var relay in _relays.Where(r => !r.HasExited))
        {
            relay.Kill();
            await relay.WaitForExitAsync();
        }

        await _consumer.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        _consumer.Dispose();
        await Witness.DisposeAsync();
        await DeleteQueuesAsync();
        await _writer.DisposeAsync();
        await Ledger.DisposeAsync();
        await EffectsDatabase.DisposeAsync();
    }

    private async Task DeleteQueuesAsync()
    {
        var factory = new ConnectionFactory { Uri = TestServers.RabbitMqUri };
        await using var connection = await factory.CreateConnectionAsync();
        foreach (var queue in new[] { EffectsQueue, $"{EffectsQueue}_error", $"{EffectsQueue}_skipped" })
        {
            await using var channel = await connection.CreateChannelAsync();
            await channel.QueueDeleteAsync(queue);
        }

        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.ExchangeDeleteAsync(Exchange);
        }
    }
}
