using System.Threading.Channels;

namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>Wakes the relay in this process when a transaction commits outbox rows.</summary>
internal sealed class OutboxSignal
{
    private readonly Channel<bool> _channel = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = false,
        SingleWriter = false,
    });

    /// <summary>Says that rows were committed; cheap, and coalesces while nobody is waiting.</summary>
    public void Notify() => _channel.Writer.TryWrite(true);

    /// <summary>Waits until rows are committed or the timeout passes.</summary>
    /// <returns><see langword="true"/> when woken by a commit.</returns>
    public async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (_channel.Reader.TryRead(out _))
        {
            return true;
        }

        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            await _channel.Reader.WaitToReadAsync(timeoutSource.Token).ConfigureAwait(false);
            return _channel.Reader.TryRead(out _);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
