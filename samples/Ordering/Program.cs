using Billing;
using DomainEvents.MassTransit;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Ordering.Application;
using Ordering.Infrastructure;
using Ordering.Sample;

// dotnet run --project samples/Ordering [-- --transport rabbitmq --database postgres]
// dotnet run --project samples/Ordering -- --separate      (Ordering.Api and Billing as two processes; RabbitMQ and PostgreSQL)
const string Usage = "usage: dotnet run --project samples/Ordering [-- [--transport inmemory|rabbitmq] [--database sqlite|postgres] | --separate]";
var separate = args.Contains("--separate");
var builder = Host.CreateApplicationBuilder(args.Where(a => a != "--separate").ToArray());
if (SampleSettings.Read(builder.Configuration, ownProcess: separate, Usage, out var error) is not { } settings)
{
    Console.Error.WriteLine(error);
    return 2;
}

var timeout = TimeSpan.FromSeconds(30);
Console.WriteLine($"Ordering sample{(separate ? ", Ordering.Api and Billing in two processes" : "")}: {settings.Database}; {settings.Transport}");
Console.WriteLine();
if (separate)
{
    return await SeparateProcesses.RunAsync(settings, timeout) ? 0 : 1;
}

// Warnings only (the relay says so when the broker is unreachable); MassTransit's own connection retries are quieter.
// What the application's handler and Billing's consumer log is printed as steps of the walkthrough.
builder.Logging.ClearProviders().AddSimpleConsole().SetMinimumLevel(LogLevel.Warning).AddFilter("MassTransit", LogLevel.Error)
    .AddProvider(new StepLoggerProvider())
    .AddFilter<StepLoggerProvider>("Ordering.Application", LogLevel.Information)
    .AddFilter<StepLoggerProvider>("Billing", LogLevel.Information);
var services = builder.Services;

// Ordering: the use case, in-process handlers, the outbox in OrderingDbContext, and the relay that publishes through MassTransit.
services.AddOrderingApplication();
services.AddOrderingInfrastructure(o => settings.UseDatabase(o, "ordering"), postgres: settings.UsesPostgres);

// Billing, in the same process here: a consumer bound to the "order" exchange with "order.*", behind an inbox in its own database.
services.AddBillingDatabase(o => settings.UseDatabase(o, "billing"));
services.AddMassTransit(x =>
{
    x.AddBillingConsumers();
    if (settings.RabbitMq is { } rabbitMq)
    {
        x.UsingRabbitMq((context, cfg) =>
        {
            cfg.Host(rabbitMq);
            cfg.ConfigureIntegrationEventEndpoints(context);
        });
    }
    else
    {
        x.UsingInMemory((context, cfg) => cfg.ConfigureIntegrationEventEndpoints(context));
    }
});

// Only for the printout.
services.AddSendObserver<RelaySendObserver>();

var host = builder.Build();
try
{
    await using (var scope = host.Services.CreateAsyncScope())
    {
        // A real service adds a migration instead (dotnet ef migrations add Outbox).
        await scope.ServiceProvider.GetRequiredService<OrderingDbContext>().Database.EnsureCreatedAsync();
        await scope.ServiceProvider.GetRequiredService<BillingDbContext>().Database.EnsureCreatedAsync();
    }

    await host.StartAsync();
    var delivered = await PlaceOrderWalkthrough.RunInProcessAsync(host.Services, settings, timeout);
    await host.StopAsync();
    return delivered ? 0 : 1;
}
catch (Exception ex) when (ex is not OperationCanceledException)
{
    Console.Error.WriteLine($"FAILED: {ex.GetType().Name}: {ex.Message}");
    return 1;
}
finally
{
    host.Dispose();
    settings.CleanUp();
}
