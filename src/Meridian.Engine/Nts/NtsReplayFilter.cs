using System.Buffers.Binary;

namespace Meridian.Engine.Nts;

/// <summary>
/// The Unique Identifiers of NTS requests recently answered, so that a captured request sent again gets no second
/// reply with fresh cookies. RFC 8915 §5.3 makes the identifier the client's replay defence; the server keeping a
/// bounded memory of it too means a replayed packet costs one lookup instead of two AEAD operations and cookies.
/// </summary>
/// <remarks>
/// A fixed, 4-way set-associative table of 128-bit fingerprints (<see cref="Capacity"/> entries, 1 MiB): no allocation
/// after construction and no per-client growth. An identifier is remembered until four newer ones land in its set,
/// which with random identifiers is on average about <see cref="Capacity"/> requests later. The set index is keyed
/// by a per-instance secret so a client cannot aim identifiers at one set to evict another's. One short lock guards
/// the table: the work under it is four compares and a store.
/// </remarks>
public sealed class NtsReplayFilter
{
    /// <summary>Identifiers remembered at most.</summary>
    public const int Capacity = Sets * Ways;

    private const int Ways = 4;
    private const int Sets = 1 << 14;

    private readonly UInt128[] _entries = new UInt128[Capacity];
    private readonly byte[] _next = new byte[Sets];
    private readonly ulong _secret;
    private readonly Lock _lock = new();

    public NtsReplayFilter(IRandomSource random)
    {
        ArgumentNullException.ThrowIfNull(random);
        _secret = random.NextUInt64() | 1;
    }

    /// <summary>
    /// Remembers <paramref name="uniqueIdentifier"/>; false when it was already remembered (a replay). Call only for
    /// authenticated requests, so a stranger cannot fill the table.
    /// </summary>
    public bool TryAdd(ReadOnlySpan<byte> uniqueIdentifier)
    {
        UInt128 fingerprint = Fingerprint(uniqueIdentifier);
        if (fingerprint == UInt128.Zero)
        {
            // Zero marks an empty slot; an identifier folding to it is remembered as one.
            fingerprint = UInt128.One;
        }

        int set = (int)(((ulong)fingerprint * _secret) >> (64 - 14));
        int first = set * Ways;
        lock (_lock)
        {
            for (int i = first; i < first + Ways; i++)
            {
                if (_entries[i] == fingerprint)
                {
                    return false;
                }
            }

            // Round robin within the set: the oldest of its four goes.
            int way = _next[set];
            _entries[first + way] = fingerprint;
            _next[set] = (byte)((way + 1) % Ways);
            return true;
        }
    }

    /// <summary>The identifier folded to 128 bits, its length mixed in: it is random (RFC 8915 §5.3), so folding keeps it unique enough.</summary>
    private static UInt128 Fingerprint(ReadOnlySpan<byte> identifier)
    {
        UInt128 value = (UInt128)(uint)identifier.Length << 96;
        Span<byte> block = stackalloc byte[16];
        for (int offset = 0; offset < identifier.Length; offset += 16)
        {
            ReadOnlySpan<byte> chunk = identifier.Slice(offset, Math.Min(16, identifier.Length - offset));
            block.Clear();
            chunk.CopyTo(block);
            // Rotate before each fold so that equal chunks at different offsets do not cancel.
            value = UInt128.RotateLeft(value, 7) ^ BinaryPrimitives.ReadUInt128LittleEndian(block);
        }

        return value;
    }
}
