namespace DomainEvents.EntityFrameworkCore.Tests.Model;

public sealed class Order : AggregateRoot
{
    public Guid Id { get; private set; } = Guid.CreateVersion7();

    public string Customer { get; private set; } = "";

    public decimal Total { get; private set; }

    public string Status { get; private set; } = "new";

    public static Order Place(string customer, decimal total)
    {
        var order = new Order { Customer = customer, Total = total, Status = "placed" };
        order.Raise(new OrderPlaced(order.Id, total));
        return order;
    }

    public void AddNote(string note) => Raise(new OrderNoteAdded(Id, note));

    public void Pay()
    {
        Status = "paid";
        Raise(new OrderPaid(Id));
    }

    public void Ship()
    {
        Status = "shipped";
        Raise(new OrderShipped(Id));
    }

    public void Cancel(string reason)
    {
        Status = "cancelled";
        Raise(new OrderCancelled(Id, reason));
    }

    public void RaiseEvent(IDomainEvent domainEvent) => Raise(domainEvent);
}

public sealed class AuditEntry
{
    public long Id { get; set; }

    public string Text { get; set; } = "";
}

/// <summary>An aggregate whose key the database generates: it cannot be partitioned before insert.</summary>
public sealed class Invoice : AggregateRoot
{
    public int Id { get; private set; }

    public decimal Amount { get; private set; }

    public static Invoice Number(string number, decimal amount)
    {
        var invoice = new Invoice { Amount = amount };
        invoice.Raise(new InvoiceNumbered(number, amount));
        return invoice;
    }

    public static Invoice Issue(decimal amount)
    {
        var invoice = new Invoice { Amount = amount };
        invoice.Raise(new InvoiceIssued(amount));
        return invoice;
    }
}

public sealed record InvoiceIssued(decimal Amount) : IIntegrationEvent;

/// <summary>Chooses its own partition key, so the database-generated invoice id is not needed.</summary>
public sealed record InvoiceNumbered(string Number, decimal Amount) : IIntegrationEvent, IHasPartitionKey
{
    public string PartitionKey => $"invoice-number/{Number}";
}
