using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>Turns the ids foreign publishers use into the UUIDs the inbox keys on.</summary>
internal static class MessageIds
{
    /// <summary>The namespace of the name-based UUIDs (RFC 9562 v5) made from ids that are not UUIDs.</summary>
    private static readonly Guid Namespace = new("6a1d3c2e-5b0f-4f57-9d55-0e6d3b1c9a41");

    /// <summary>
    /// A UUID as it is; anything else (CloudEvents ids are any non-empty string) becomes a name-based UUID of the
    /// source and the id, the same on every delivery and every consumer.
    /// </summary>
    public static Guid? From(string? id, string? source = null)
    {
        if (string.IsNullOrEmpty(id))
        {
            return null;
        }

        return Guid.TryParse(id, out var guid) ? guid : NameBased($"{source}\n{id}");
    }

    /// <summary>
    /// A CloudEvent is identified by its source and id together (the spec makes the id unique only within its source), so
    /// its inbox key is always the name-based UUID of both, even when the id is a UUID another source might also use.
    /// </summary>
    public static Guid? FromSourceAndId(string? source, string? id) =>
        string.IsNullOrEmpty(id) ? null : string.IsNullOrEmpty(source) ? From(id) : NameBased($"{source}\n{id}");

    private static Guid NameBased(string name)
    {
        Span<byte> namespaceBytes = stackalloc byte[16];
        Namespace.TryWriteBytes(namespaceBytes, bigEndian: true, out _);
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var input = new byte[16 + nameBytes.Length];
        namespaceBytes.CopyTo(input);
        nameBytes.CopyTo(input, 16);
#pragma warning disable CA5350 // SHA-1 is what RFC 9562 prescribes for v5 UUIDs; it names, it does not protect.
        Span<byte> hash = stackalloc byte[20];
        SHA1.HashData(input, hash);
#pragma warning restore CA5350
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }
}
