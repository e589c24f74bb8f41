using System.Collections.Concurrent;
using System.Reflection;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Microsoft.EntityFrameworkCore.Migrations.Design;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// The README's migration flow, `dotnet ef migrations add Outbox` then `dotnet ef database update`, done the way the EF
/// tools do it: the provider's design-time services scaffold the migration, the C# is compiled, EF's migrator applies
/// it, and the outbox and the relay work on the schema it made.
/// </summary>
[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class MigratingTheOutboxIntoYourSchema(DatabaseProvider provider)
{
    [Test]
    public async Task A_migration_scaffolded_for_a_model_with_the_outbox_applies_and_the_relay_runs_on_it()
    {
        await using var database = await TestDatabase.CreateAsync(provider);

        // dotnet ef migrations add Outbox
        var scaffolded = Scaffold(database, "Outbox");
        scaffolded.MigrationCode.Should().Contain("\"outbox_messages\"").And.Contain("\"inbox_messages\"").And.Contain("\"status = 0\"");
        var migrations = Compile(scaffolded);

        // dotnet ef database update
        var options = new DbContextOptionsBuilder<OrderingDbContext>();
        if (provider == DatabaseProvider.Sqlite)
        {
            options.UseSqlite(database.ConnectionString, b => b.MigrationsAssembly(migrations));
        }
        else
        {
            options.UseNpgsql(database.ConnectionString, b => b.MigrationsAssembly(migrations));
        }

        await using (var context = new OrderingDbContext(options.Options))
        {
            await context.Database.MigrateAsync();
            (await context.Database.GetAppliedMigrationsAsync()).Should().ContainSingle().Which.Should().EndWith("_Outbox");
            context.Database.HasPendingModelChanges().Should().BeFalse("the migration's snapshot is the model");
        }

        // An order saved on the migrated schema gets its outbox row, and the relay sends it.
        var services = new ServiceCollection();
        services.AddDbContext<OrderingDbContext>(o => database.Configure(o));
        services.AddSingleton<HandlerLog>();
        services.AddDomainEvents().AddEntityFrameworkOutbox<OrderingDbContext>();
        await using var provider1 = services.BuildServiceProvider();
        await using (var scope = provider1.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<OrderingDbContext>();
            db.Orders.Add(Order.Place("migrated", 1m));
            await db.SaveChangesAsync();
        }

        var transport = new Sent();
        using var relay = new OutboxRelay<OrderingDbContext>(provider1.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), transport, new OutboxRelayOptions(), TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);
        (await relay.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(1);
        transport.Messages.Should().ContainSingle().Which.MessageType.Should().Be("order.placed");
    }

    /// <summary>What the EF tools do: the provider's design-time services (named by its assembly's attribute), then the scaffolder.</summary>
    private static ScaffoldedMigration Scaffold(TestDatabase database, string name)
    {
        var options = new DbContextOptionsBuilder<OrderingDbContext>();
        database.Configure(options);
        using var context = new OrderingDbContext(options.Options);
        var services = new ServiceCollection();
        services.AddEntityFrameworkDesignTimeServices();
        services.AddDbContextDesignTimeServices(context);
        var providerAssembly = Assembly.Load(new AssemblyName(context.Database.ProviderName!));
        var designTime = providerAssembly.GetCustomAttribute<DesignTimeProviderServicesAttribute>()!;
        ((IDesignTimeServices)Activator.CreateInstance(providerAssembly.GetType(designTime.TypeName, throwOnError: true)!)!).ConfigureDesignTimeServices(services);
        using var design = services.BuildServiceProvider();
        return design.GetRequiredService<IMigrationsScaffolder>().ScaffoldMigration(name, "Ordering.Infrastructure.Migrations");
    }

    /// <summary>Compiles the scaffolded files as the user's project would.</summary>
    private static Assembly Compile(ScaffoldedMigration migration)
    {
        var references = AppDomain.CurrentDomain.GetAssemblies()
            .Where(a => !a.IsDynamic && !string.IsNullOrEmpty(a.Location))
            .Select(a => MetadataReference.CreateFromFile(a.Location));
        var compilation = CSharpCompilation.Create(
            $"Migrations{Guid.NewGuid():N}",
            new[] { migration.MigrationCode, migration.MetadataCode, migration.SnapshotCode }.Select(code => CSharpSyntaxTree.ParseText(code)),
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        emitted.Success.Should().BeTrue(string.Join("\n", emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        return Assembly.Load(image.ToArray());
    }

    private sealed class Sent : IOutboxTransport
    {
        public ConcurrentQueue<OutboxEnvelope> Messages { get; } = new();

        public Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken)
        {
            Messages.Enqueue(envelope);
            return Task.CompletedTask;
        }
    }
}
