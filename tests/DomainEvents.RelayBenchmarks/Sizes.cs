namespace DomainEvents.RelayBenchmarks;

/// <summary>How big each measurement is: the sizes by default, small ones with --quick (a smoke test).</summary>
public sealed record Sizes(
    int Backlog,
    int ThroughputRounds,
    int ThroughputWarmup,
    int PartitionKeys,
    int InFlight,
    int RelayBatchSize,
    int LatencyRate,
    double LatencySeconds,
    double LatencyWarmupSeconds,
    double CrossProcessSeconds,
    double CrossProcessPollingSeconds,
    int InboxMessages,
    int InboxRounds,
    ushort InboxPrefetch,
    int NotifySaves,
    int NotifyBlock,
    int DeepStuckRows,
    int DeepFreshRows,
    int RefusalRows,
    int OrderedMessages)
{
    public static readonly Sizes Full = new(
        Backlog: 50_000,
        ThroughputRounds: 2,
        ThroughputWarmup: 10_000,
        PartitionKeys: 1_000,
        InFlight: 100,
        RelayBatchSize: 500,
        LatencyRate: 200,
        LatencySeconds: 20,
        LatencyWarmupSeconds: 5,
        CrossProcessSeconds: 20,
        CrossProcessPollingSeconds: 10,
        InboxMessages: 20_000,
        InboxRounds: 2,
        InboxPrefetch: 32,
        NotifySaves: 3_000,
        NotifyBlock: 250,
        DeepStuckRows: 1_000_000,
        DeepFreshRows: 5_000,
        RefusalRows: 10_000,
        OrderedMessages: 20_000);

    public static readonly Sizes Quick = Full with
    {
        Backlog = 3_000,
        ThroughputRounds = 1,
        ThroughputWarmup = 500,
        LatencySeconds = 3,
        LatencyWarmupSeconds = 1,
        CrossProcessSeconds = 3,
        CrossProcessPollingSeconds = 3,
        InboxMessages = 1_000,
        InboxRounds = 1,
        NotifySaves = 200,
        NotifyBlock = 50,
        DeepStuckRows = 50_000,
        DeepFreshRows = 1_000,
        RefusalRows = 1_000,
        OrderedMessages = 2_000,
    };
}
