using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Ordering.Application;
using Ordering.Billing;
using Ordering.Infrastructure;
using Ordering.Sample;

// dotnet run --project samples/Ordering [-- --transport rabbitmq --database postgres]
var builder = Host.CreateApplicationBuilder(args);
if (SampleOptions.Read(builder.Configuration, out var error) is not { } options)
{
    Console.Error.WriteLine(error);
    return 2;
}

// Warnings only (the relay says so when the broker is unreachable); MassTransit's own connection retries are quieter.
builder.Logging.ClearProviders().AddSimpleConsole().SetMinimumLevel(LogLevel.Warning).AddFilter("MassTransit", LogLevel.Error);
var services = builder.Services;

// Ordering: in-process handlers, the outbox in OrderingDbContext, and the relay that publishes through MassTransit.
services.AddDbContext<OrderingDbContext>(o => options.UseDatabase(o, "ordering"));
services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<LogOrderPlaced>())
    .AddEntityFrameworkOutbox<OrderingDbContext>()
    .AddMassTransitRelay();

// Billing: a consumer bound to the "order" exchange with "order.*", behind an inbox in its own database.
services.AddDbContext<BillingDbContext>(o => options.UseDatabase(o, "billing"));
services.AddMassTransit(x =>
{
    x.AddIntegrationEventConsumer<OrderPlacedConsumer>(c => c.Bind("order", "order.*").UseInbox<BillingDbContext>());
    if (options.RabbitMq is { } rabbitMq)
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
services.AddSingleton<ConsumerProgress>();
services.AddSendObserver<RelaySendObserver>();

Console.WriteLine($"Ordering sample: {options.Database}; {options.Transport}");
Console.WriteLine();
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
    var delivered = await PlaceOrderWalkthrough.RunAsync(host.Services, options, TimeSpan.FromSeconds(30));
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
    options.CleanUp();
}
