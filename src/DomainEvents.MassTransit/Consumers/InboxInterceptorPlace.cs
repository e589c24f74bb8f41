namespace DomainEvents.MassTransit.Consumers;

/// <summary>Where the inbox's interceptor is among a context's interceptors.</summary>
internal enum InboxInterceptorPlace
{
    /// <summary>Not there: the context's options were built without it, and no failure is seen.</summary>
    Absent,

    /// <summary>There, with a transaction interceptor after it: it sees EF Core's failures but cannot commit in EF Core's place.</summary>
    NotLast,

    /// <summary>There, and no transaction interceptor after it: it commits through the inbox's statements.</summary>
    Last,
}
