using System.Security.Cryptography;

namespace Meridian.Engine;

/// <summary>
/// Where the engine's random values come from. Transmit timestamps of client requests (RFC 9109), mode 6 nonces and
/// poll jitter must not be guessable by a host that watches or queries the daemon, so the daemon draws them from
/// <see cref="CryptoRandomSource"/>; only the simulator uses a seeded generator, to repeat a run exactly.
/// </summary>
public interface IRandomSource
{
    ulong NextUInt64();
}

/// <summary>The operating system's cryptographic generator.</summary>
public sealed class CryptoRandomSource : IRandomSource
{
    public static CryptoRandomSource Instance { get; } = new();

    public ulong NextUInt64()
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        RandomNumberGenerator.Fill(bytes);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes);
    }
}

/// <summary>A seeded generator, for simulations and tests that must repeat exactly. Never for a daemon.</summary>
public sealed class SeededRandomSource(int seed) : IRandomSource
{
    private readonly Random _random = new(seed);

    public ulong NextUInt64() => (ulong)_random.NextInt64() ^ ((ulong)_random.Next() << 63);
}
