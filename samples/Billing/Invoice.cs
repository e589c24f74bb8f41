namespace Billing;

public sealed class Invoice
{
    public Guid Id { get; init; } = Guid.CreateVersion7();

    public Guid OrderId { get; init; }

    public string Customer { get; init; } = "";

    public decimal Amount { get; init; }
}
