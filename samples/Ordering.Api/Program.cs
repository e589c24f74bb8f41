using MassTransit;
using Microsoft.EntityFrameworkCore;
using Ordering.Application;
using Ordering.Infrastructure;
using Ordering.Sample;

// The Ordering service as a process of its own: dotnet run --project samples/Ordering.Api [-- --urls http://127.0.0.1:5080]
// POST /orders {"customer":"Ada Lovelace","total":42.50} places an order; the relay publishes OrderPlaced to RabbitMQ.
var builder = WebApplication.CreateBuilder(args);
if (SampleSettings.Read(builder.Configuration, ownProcess: true, "usage: dotnet run --project samples/Ordering.Api [-- [--database postgres|sqlite] [--urls URL]]", out var error) is not { } settings)
{
    Console.Error.WriteLine(error);
    return 2;
}

builder.Services.AddOrderingApplication();
builder.Services.AddOrderingInfrastructure(o => settings.UseDatabase(o, "ordering"), postgres: settings.UsesPostgres);
builder.Services.AddMassTransit(x => x.UsingRabbitMq((_, cfg) => cfg.Host(settings.RabbitMq!)));
builder.Services.AddProblemDetails();
builder.Logging.AddFilter("MassTransit", LogLevel.Warning).AddFilter("Microsoft", LogLevel.Warning);

var app = builder.Build();
await using (var scope = app.Services.CreateAsyncScope())
{
    // A real service applies its migrations instead (dotnet ef migrations add Outbox).
    await scope.ServiceProvider.GetRequiredService<OrderingDbContext>().Database.EnsureCreatedAsync();
}

if (args is [var command, ..] && !command.StartsWith('-'))
{
    // The operator commands, in this service's own executable: dotnet run --project samples/Ordering.Api -- relay | outbox stats | ...
    return await app.RunWithDomainEventsCommandsAsync(args);
}

app.MapPost("/orders", async (PlaceOrderRequest request, PlaceOrder placeOrder, CancellationToken cancellationToken) =>
{
    try
    {
        var order = await placeOrder.HandleAsync(request.Customer ?? "", request.Total, cancellationToken);
        return Results.Created($"/orders/{order.Id}", new OrderResponse(order.Id, order.Customer, order.Total));
    }
    catch (ArgumentException ex)
    {
        // Order.Place refused the input; nothing was saved.
        return Results.ValidationProblem(new Dictionary<string, string[]> { [ex.ParamName ?? "order"] = [ex.Message] });
    }
});

app.MapGet("/orders/{id:guid}", async (Guid id, OrderingDbContext db, CancellationToken cancellationToken) =>
    await db.Orders.AsNoTracking().SingleOrDefaultAsync(o => o.Id == id, cancellationToken) is { } order
        ? Results.Ok(new OrderResponse(order.Id, order.Customer, order.Total))
        : Results.NotFound());

await app.StartAsync();
Console.WriteLine($"Ordering.Api is ready at {string.Join(", ", app.Urls)}: {settings.Database}; {settings.Transport}. Ctrl+C stops it.");
await app.WaitForShutdownAsync();
settings.CleanUp();
return 0;

internal sealed record PlaceOrderRequest(string? Customer, decimal Total);

internal sealed record OrderResponse(Guid Id, string Customer, decimal Total);
