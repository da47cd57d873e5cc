namespace Meridian.Protocol;

/// <summary>
/// A symmetric key of a keys file (RFC 5905 §7.3, RFC 8573): its ID, MAC algorithm and secret. The daemon, the keys
/// file reader and every tool use this one shape. The secret never leaves through <see cref="ToString"/>, so a key
/// cannot end up in a log line or an error message by accident.
/// </summary>
public sealed class SymmetricKey
{
    /// <summary>The highest key ID of ntpd's keys files.</summary>
    public const uint MaxId = 65535;

    private readonly byte[] _secret;

    public SymmetricKey(uint id, MacAlgorithm algorithm, ReadOnlySpan<byte> secret)
    {
        Id = id;
        Algorithm = algorithm;
        _secret = secret.ToArray();
    }

    public uint Id { get; }

    public MacAlgorithm Algorithm { get; }

    /// <summary>The secret itself: for the MAC code only.</summary>
    public ReadOnlySpan<byte> Secret => _secret;

    /// <summary>Octets of key ID and digest this key appends to a packet.</summary>
    public int TrailerLength => 4 + Mac.DigestLength(Algorithm);

    /// <summary>Writes key ID and MAC of the first <paramref name="length"/> octets of <paramref name="buffer"/> after them; returns the new length.</summary>
    public int Sign(Span<byte> buffer, int length) => Mac.Sign(Algorithm, Id, _secret, buffer, length);

    /// <summary>A copy of <paramref name="message"/> with key ID and MAC appended.</summary>
    public byte[] Append(ReadOnlySpan<byte> message) => Mac.Append(Algorithm, Id, _secret, message);

    /// <summary>Checks <paramref name="digest"/> against the MAC of <paramref name="message"/> in constant time.</summary>
    public bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> digest) => Mac.Verify(Algorithm, _secret, message, digest);

    public override string ToString() => $"key {Id} ({Algorithm}, secret withheld)";
}
