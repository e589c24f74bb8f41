using System.Data.Common;
using System.Diagnostics;
using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.MassTransit.Consumers;
using DomainEvents.MassTransit.Tests.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// A database fail-over in the middle of a consumer's unit of work: the execution strategy runs the inbox's transaction
/// again, and the consumer's effects must still happen exactly once.
/// </summary>
public sealed class SurvivingDatabaseFailuresInTheInbox : RabbitMqFixture
{
    [TestCase(FaultAt.Save)]
    [TestCase(FaultAt.Commit)]
    public async Task A_transient_failure_inside_the_inbox_transaction_applies_the_effects_exactly_once(FaultAt where)
    {
        var faults = new TransientFault(where);
        await SeedTallyAsync();

        var host = await StartAsync(relay: true, o =>
        {
            o.Consumers.Add((typeof(TallyingConsumer), c =>
            {
                c.Bind(Exchange, "order.*");
                c.QueueName = Queue("tally");
                c.UseInbox<BillingDbContext>();
            }));
            o.ConfigureBilling = b => b.AddInterceptors(faults);
            o.BillingNpgsql = n => n.EnableRetryOnFailure(3, TimeSpan.FromMilliseconds(100), null);
        });

        var orders = Enumerable.Range(1, 3).Select(Order.Place).ToArray();
        await host.SaveAsync(orders);

        await AppliedOnceEachAsync(3);
        faults.Injected.Should().BeTrue("one transient failure was injected at {0}", where);
    }

    [Test]
    public async Task A_database_that_is_read_only_for_a_while_as_in_a_fail_over_delays_the_messages_and_they_are_applied_once()
    {
        // During a fail-over the consumer's connections may reach a server that only reads (the old primary turned standby,
        // a standby not yet promoted): every write fails with SQLSTATE 25006. That is the database being away, not an error
        // of the message: it is retried like a dropped connection, and nothing goes to the error queue.
        var host = await StartTallyAsync("tally-read-only", [.. Enumerable.Repeat(TimeSpan.FromMilliseconds(250), 20)]);

        await WhileReadOnlyAsync(async refusals =>
        {
            await host.SaveAsync(Enumerable.Range(1, 3).Select(Order.Place).ToArray());
            await RelayingToConsumers.WaitForAsync(() => Task.FromResult(refusals.Count >= 6), seconds: 20);
        });

        await AppliedOnceEachAsync(3);
        (await WireTap.DepthAsync(Queue("tally-read-only") + "_error")).Should().Be(0, "a read-only database is not the message's fault");
    }

    [Test]
    public async Task A_database_away_for_longer_than_the_retries_holds_an_ordered_consumer_and_nothing_goes_to_the_error_queue()
    {
        // The consumer keeps order (the default): the next message of a key may not go before one the database could not
        // take, so after the last interval it keeps trying until the database answers.
        var host = await StartTallyAsync("tally-ordered", [TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200)],
            o => o.ConfigureServices = s => s.AddHealthChecks().AddDomainEventsHealthChecks());
        (await HealthProbe.WaitForAsync(host, DomainEventsHealthCheckExtensions.InboxCheck, HealthStatus.Healthy, TimeSpan.FromSeconds(5)))
            .Description.Should().Contain("TallyingConsumer on").And.Contain("no message held");

        await WhileReadOnlyAsync(async refusals =>
        {
            var order = Order.Place(1);
            for (var sequence = 2; sequence <= 5; sequence++)
            {
                order.PlaceAgain(sequence);
            }

            await host.SaveAsync(order);

            // Each message has three tries in these intervals: twelve refusals would have sent four to the error queue.
            await RelayingToConsumers.WaitForAsync(() => Task.FromResult(refusals.Count >= 12), seconds: 20);
            var held = await HealthProbe.WaitForAsync(host, DomainEventsHealthCheckExtensions.InboxCheck, HealthStatus.Degraded, TimeSpan.FromSeconds(5));
            held.Description.Should().Contain("TallyingConsumer on").And.Contain("1 message(s) held", "the key's first message waits; the others wait behind it");
            held.Exception.Should().NotBeNull("the operator sees why");
        });

        await AppliedOnceEachAsync(5);
        (await HealthProbe.WaitForAsync(host, DomainEventsHealthCheckExtensions.InboxCheck, HealthStatus.Healthy, TimeSpan.FromSeconds(10)))
            .Description.Should().Contain("no message held");
        await using var check = BillingContext();
        (await check.Receipts.OrderBy(r => r.Id).Select(r => r.Sequence).ToListAsync()).Should().Equal([1, 2, 3, 4, 5], "the key's order is kept");
        (await WireTap.DepthAsync(Queue("tally-ordered") + "_error")).Should().Be(0, "an outage is not the messages' fault");
    }

    /// <summary>
    /// A connection string of several hosts during a fail-over: every host known to be unfit (here, none is a standby, as
    /// none is primary while a standby is being promoted), or none answering (two closed ports). Npgsql calls neither error
    /// transient; both are the database being away, and every message went to the error queue at once. Two keys, two at
    /// once: both messages are held, and counted, until the host stops and returns them to the queue.
    /// </summary>
    [TestCase(true, TestName = "A_connection_string_of_several_hosts_none_of_which_fits_holds_an_ordered_consumer_and_nothing_goes_to_the_error_queue")]
    [TestCase(false, TestName = "A_connection_string_of_several_hosts_none_of_which_answers_holds_an_ordered_consumer_and_nothing_goes_to_the_error_queue")]
    public async Task A_connection_string_of_several_hosts_none_of_which_will_do_holds_an_ordered_consumer(bool answers)
    {
        // The test server named twice, as a standby it is not; or two closed ports, whose states Npgsql forgets at once (so
        // that each attempt tries both hosts again and fails with their errors, not with "No suitable host was found").
        var unfit = new NpgsqlConnectionStringBuilder(Billing.ConnectionString);
        var server = $"{unfit.Host}:{unfit.Port}";
        if (answers)
        {
            unfit.Host = $"{server},{server}";
            unfit.TargetSessionAttributes = "standby";
        }
        else
        {
            unfit.Host = "127.0.0.1:1,127.0.0.1:2";
            unfit.HostRecheckSeconds = 0;
        }

        // The host creates its schema on the database as it is, then the fail-over begins: contexts made from then on use
        // the hosts that will not do.
        var queue = answers ? "tally-no-host-fits" : "tally-no-host-answers";
        var failingOver = false;
        var host = await StartTallyAsync(queue, [TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(50)], o =>
        {
            o.ConfigureBilling = b =>
            {
                if (Volatile.Read(ref failingOver))
                {
                    b.UseNpgsql(unfit.ConnectionString);
                }
            };
            o.ConfigureServices = s => s.AddHealthChecks().AddDomainEventsHealthChecks();
        }, c => c.Parallelism = 2);
        Volatile.Write(ref failingOver, true);

        await host.SaveAsync(Order.Place(1));
        await host.SaveAsync(Order.Place(2));

        var held = await HealthProbe.WaitForAsync(host, DomainEventsHealthCheckExtensions.InboxCheck, HealthStatus.Degraded, TimeSpan.FromSeconds(20));
        held.Exception.Should().BeAssignableTo<NpgsqlException>();
        await RelayingToConsumers.WaitForAsync(async () => (await InboxHealthAsync(host)).Description?.Contains("2 message(s) held", StringComparison.Ordinal) == true, seconds: 20);
        (await WireTap.DepthAsync(Queue(queue) + "_error")).Should().Be(0, "no host will do for now: that is not the messages' fault");
        await host.StopAsync();
        await RelayingToConsumers.WaitForAsync(async () => await WireTap.DepthAsync(Queue(queue)) == 2, seconds: 10);
        (await WireTap.DepthAsync(Queue(queue) + "_error")).Should().Be(0);
        var after = await InboxHealthAsync(host);
        after.Status.Should().Be(HealthStatus.Healthy, "messages returned to their queue are no longer held: {0}", after.Description);
        after.Description.Should().Contain("no message held");
    }

    [Test]
    public async Task Stopping_the_host_while_a_message_is_held_ends_the_waits_and_returns_the_message_to_the_queue()
    {
        var host = await StartTallyAsync("tally-stopped", [TimeSpan.FromMilliseconds(100)]);

        await WhileReadOnlyAsync(async refusals =>
        {
            await host.SaveAsync(Order.Place(1));
            await RelayingToConsumers.WaitForAsync(() => Task.FromResult(refusals.Count >= 5), seconds: 20);

            // The host gives its services 30 s to stop; a wait that went on would take all of them.
            var stopping = Stopwatch.StartNew();
            await host.StopAsync();
            stopping.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(15), "stopping the bus ends the waits");
        });

        await RelayingToConsumers.WaitForAsync(async () => await WireTap.DepthAsync(Queue("tally-stopped")) == 1, seconds: 10);
        (await WireTap.DepthAsync(Queue("tally-stopped") + "_error")).Should().Be(0, "an outage is not the message's fault");
    }

    [Test]
    public async Task A_deadlock_that_comes_back_every_time_sends_the_message_of_an_ordered_consumer_to_the_error_queue()
    {
        // A deadlock is transient, but it may be the message's own doing (statements that always meet in the same order): it
        // is not held.
        var host = await StartTallyAsync("tally-deadlock", [TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(50)], o => o.ConfigureBilling = b => b.AddInterceptors(new FailingReceipts(() => new PostgresException("deadlock detected", "ERROR", "ERROR", "40P01"))));

        await host.SaveAsync(Order.Place(1));

        await RelayingToConsumers.WaitForAsync(async () => await WireTap.DepthAsync(Queue("tally-deadlock") + "_error") == 1, seconds: 20);
        await using var check = BillingContext();
        (await check.Receipts.CountAsync()).Should().Be(0);
    }

    [Test]
    public async Task Stopping_the_host_while_an_attempt_of_a_held_message_runs_returns_the_message_to_the_queue()
    {
        // Each attempt takes a while and then finds the database gone: the host is stopped while one runs.
        var attempts = new SemaphoreSlim(0);
        var host = await StartTallyAsync("tally-stopped-mid-attempt", [TimeSpan.FromMilliseconds(50)], o => o.ConfigureBilling = b => b.AddInterceptors(new FailingReceipts(
            () => new NpgsqlException("injected: Exception while reading from stream", new EndOfStreamException()),
            delay: TimeSpan.FromSeconds(1),
            started: attempts)));

        await host.SaveAsync(Order.Place(1));
        (await attempts.WaitAsync(TimeSpan.FromSeconds(20))).Should().BeTrue("the consumer's first attempt started");
        (await attempts.WaitAsync(TimeSpan.FromSeconds(20))).Should().BeTrue("a second attempt started: the message is held");
        await host.StopAsync();

        await RelayingToConsumers.WaitForAsync(async () => await WireTap.DepthAsync(Queue("tally-stopped-mid-attempt")) == 1, seconds: 10);
        (await WireTap.DepthAsync(Queue("tally-stopped-mid-attempt") + "_error")).Should().Be(0, "an outage is not the message's fault, nor is a stop");
    }

    /// <summary>Every insert of a receipt fails with the given error, after <c>delay</c>; each attempt is counted in <c>started</c>.</summary>
    private sealed class FailingReceipts(Func<Exception> error, TimeSpan delay = default, SemaphoreSlim? started = null) : DbCommandInterceptor
    {
        public override async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            if (!command.CommandText.Contains("\"Receipts\"", StringComparison.Ordinal))
            {
                return result;
            }

            started?.Release();
            await Task.Delay(delay, CancellationToken.None);
            throw error();
        }
    }

    private static async Task<HealthReportEntry> InboxHealthAsync(ServiceHost host) =>
        (await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == DomainEventsHealthCheckExtensions.InboxCheck))
        .Entries[DomainEventsHealthCheckExtensions.InboxCheck];

    /// <summary>Seeds the tally and starts a host whose tallying consumer, behind the inbox, reads <paramref name="queue"/>.</summary>
    private async Task<ServiceHost> StartTallyAsync(string queue, TimeSpan[] intervals, Action<ServiceHostOptions>? configure = null, Action<IntegrationEventConsumerOptions>? consumer = null)
    {
        await SeedTallyAsync();
        return await StartAsync(relay: true, o =>
        {
            o.Consumers.Add((typeof(TallyingConsumer), c =>
            {
                c.Bind(Exchange, "order.*");
                c.QueueName = Queue(queue);
                c.UseInbox<BillingDbContext>();
                c.TransientDatabaseRetryIntervals = intervals;
                consumer?.Invoke(c);
            }));
            configure?.Invoke(o);
        });
    }

    /// <summary>Runs <paramref name="work"/> while the billing database only reads, counting the writes it refuses.</summary>
    private async Task WhileReadOnlyAsync(Func<ReadOnlyRefusals, Task> work)
    {
        using var refusals = new ReadOnlyRefusals();
        await SetReadOnlyAsync(true);
        try
        {
            await work(refusals);
        }
        finally
        {
            await SetReadOnlyAsync(false);
        }
    }

    /// <summary>Makes new sessions of the billing database read-only (or writable again) and drops the pooled ones.</summary>
    private async Task SetReadOnlyAsync(bool readOnly)
    {
        var database = new NpgsqlConnectionStringBuilder(Billing.ConnectionString).Database;
        await using (var admin = new NpgsqlConnection(Billing.ConnectionString))
        {
            await admin.OpenAsync();
            // A session of a read-only database turns itself writable first, in a statement of its own.
            foreach (var sql in readOnly
                         ? [$"ALTER DATABASE \"{database}\" SET default_transaction_read_only = on"]
                         : new[] { "SET default_transaction_read_only = off", $"ALTER DATABASE \"{database}\" RESET default_transaction_read_only" })
            {
                await using var command = admin.CreateCommand();
                command.CommandText = sql;
                await command.ExecuteNonQueryAsync();
            }
        }

        NpgsqlConnection.ClearAllPools();
    }

    /// <summary>Counts the statements PostgreSQL refused with SQLSTATE 25006 (a write in a read-only transaction), as Npgsql traces them.</summary>
    private sealed class ReadOnlyRefusals : IDisposable
    {
        private readonly ActivityListener _listener;
        private int _count;

        public ReadOnlyRefusals()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == "Npgsql",
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
                ActivityStopped = activity =>
                {
                    if (activity.GetTagItem("error.type") is "25006")
                    {
                        Interlocked.Increment(ref _count);
                    }
                },
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public int Count => Volatile.Read(ref _count);

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>Waits for the inbox rows of <paramref name="messages"/> messages, then checks each was applied once.</summary>
    private async Task AppliedOnceEachAsync(int messages)
    {
        await RelayingToConsumers.WaitForAsync(async () =>
        {
            await using var billing = BillingContext();
            return await billing.Set<InboxMessage>().CountAsync() == messages;
        });
        await Task.Delay(500);   // any second application would land now

        await using var check = BillingContext();
        (await check.Receipts.CountAsync()).Should().Be(messages, "each message stores one receipt");
        (await check.Tallies.SingleAsync()).Count.Should().Be(messages, "each message increments the tally once");
        (await check.Set<InboxMessage>().CountAsync()).Should().Be(messages);
    }

    private async Task SeedTallyAsync()
    {
        await using var seed = BillingContext();
        await seed.Database.EnsureCreatedAsync();
        seed.Tallies.Add(new Tally { Name = "orders" });
        await seed.SaveChangesAsync();
    }

    private BillingDbContext BillingContext() => new(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);

    public enum FaultAt
    {
        Save,
        Commit,
    }

    /// <summary>Fails the consumer's first save or first commit with the error a dropped connection gives.</summary>
    private sealed class TransientFault(FaultAt where) : DbCommandInterceptor, IDbTransactionInterceptor
    {
        private int _injected;

        public bool Injected => _injected == 1;

        public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            if (where == FaultAt.Save && command.CommandText.Contains("\"Receipts\"", StringComparison.Ordinal) && Interlocked.Exchange(ref _injected, 1) == 0)
            {
                throw Transient();
            }

            return ValueTask.FromResult(result);
        }

        public ValueTask<InterceptionResult> TransactionCommittingAsync(DbTransaction transaction, TransactionEventData eventData, InterceptionResult result, CancellationToken cancellationToken = default)
        {
            if (where == FaultAt.Commit && Interlocked.Exchange(ref _injected, 1) == 0)
            {
                throw Transient();
            }

            return ValueTask.FromResult(result);
        }

        private static NpgsqlException Transient() => new("injected: the connection was reset", new IOException("connection reset"));
    }
}
