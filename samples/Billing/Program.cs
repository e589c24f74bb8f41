using Billing;
using DomainEvents.MassTransit;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Ordering.Sample;

// Billing as a service of its own: dotnet run --project samples/Billing [-- --database sqlite]
// It consumes OrderPlaced from RabbitMQ and stores invoices in PostgreSQL (DOMAINEVENTS_POSTGRES) by default.
var builder = Host.CreateApplicationBuilder(args);
if (SampleSettings.Read(builder.Configuration, ownProcess: true, "usage: dotnet run --project samples/Billing [-- [--database postgres|sqlite]]", out var error) is not { } settings)
{
    Console.Error.WriteLine(error);
    return 2;
}

builder.Logging.AddFilter("MassTransit", LogLevel.Warning).AddFilter("Microsoft", LogLevel.Warning);
builder.Services.AddBillingDatabase(o => settings.UseDatabase(o, "billing"));
builder.Services.AddMassTransit(x =>
{
    x.AddBillingConsumers();
    x.UsingRabbitMq((context, cfg) =>
    {
        cfg.Host(settings.RabbitMq!);
        cfg.ConfigureIntegrationEventEndpoints(context);
    });
});

// Start returns once the queue is bound to the "order" exchange, so nothing published after "ready" is missed.
builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);

using var host = builder.Build();
await using (var scope = host.Services.CreateAsyncScope())
{
    // A real service applies its migrations instead (dotnet ef migrations add Inbox).
    await scope.ServiceProvider.GetRequiredService<BillingDbContext>().Database.EnsureCreatedAsync();
}

if (args is [var command, ..] && !command.StartsWith('-'))
{
    // The operator commands, in this service's own executable: dotnet run --project samples/Billing -- consume | inbox stats | ...
    return await host.RunWithDomainEventsCommandsAsync(args);
}

await host.StartAsync();
Console.WriteLine($"Billing is ready: {settings.Database}; {settings.Transport}. Ctrl+C stops it.");
await host.WaitForShutdownAsync();
settings.CleanUp();
return 0;
