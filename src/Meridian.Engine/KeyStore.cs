using System.Buffers.Binary;
using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>How a packet's MAC trailer judged.</summary>
public enum AuthOutcome
{
    /// <summary>No MAC.</summary>
    None,

    /// <summary>A MAC of a trusted key that verified.</summary>
    Authentic,

    /// <summary>A MAC that did not verify, or whose key is unknown or not trusted.</summary>
    Bad,

    /// <summary>A crypto-NAK: the key ID 0 alone, the peer's way of saying our MAC failed.</summary>
    CryptoNak,
}

/// <summary>
/// The keys of the keys file that <c>trustedkey</c> trusts (RFC 5905 §7.5 / RFC 8573 MACs): looks them up, checks
/// packets' MACs in constant time, and signs replies, counting the work for ntpq's <c>authinfo</c>. The host replaces
/// the set as a whole (<c>readkeys</c>, <c>trustedkey</c> at run time); readers on other threads see one or the other.
/// </summary>
public sealed class KeyStore(AuthCounters counters)
{
    private Dictionary<uint, SymmetricKey> _trusted = new();

    public AuthCounters Counters { get; } = counters;

    /// <summary>Trusted keys by ID.</summary>
    public IReadOnlyDictionary<uint, SymmetricKey> Trusted => Volatile.Read(ref _trusted);

    public void Replace(IEnumerable<SymmetricKey> trusted) =>
        Volatile.Write(ref _trusted, trusted.ToDictionary(k => k.Id));

    /// <summary>The trusted key <paramref name="id"/>, or null (counted as a lookup, and as not found).</summary>
    public SymmetricKey? Find(uint id)
    {
        SymmetricKey? key = Volatile.Read(ref _trusted).GetValueOrDefault(id);
        Counters.CountLookup(key is not null);
        return key;
    }

    /// <summary>Judges a parsed packet's trailer; <paramref name="key"/> is the key that verified it.</summary>
    public AuthOutcome Check(in NtpPacket packet, out SymmetricKey? key)
    {
        key = null;
        if (packet.IsCryptoNak)
        {
            return AuthOutcome.CryptoNak;
        }

        if (!packet.HasMac)
        {
            return AuthOutcome.None;
        }

        SymmetricKey? found = Find(packet.KeyId);
        if (found is null || packet.Digest.Length != Mac.DigestLength(found.Algorithm))
        {
            return AuthOutcome.Bad;
        }

        bool good = found.Verify(packet.Authenticated, packet.Digest);
        Counters.CountDecrypt(found.Algorithm, good);
        key = good ? found : null;
        return good ? AuthOutcome.Authentic : AuthOutcome.Bad;
    }

    /// <summary>Appends key ID and MAC of <paramref name="length"/> octets of <paramref name="buffer"/>; returns the new length.</summary>
    public int Sign(SymmetricKey key, Span<byte> buffer, int length)
    {
        Counters.CountEncrypt(key.Algorithm);
        return key.Sign(buffer, length);
    }

    /// <summary>A crypto-NAK after the header: the key ID 0 alone.</summary>
    public static int CryptoNak(Span<byte> buffer, int length)
    {
        BinaryPrimitives.WriteUInt32BigEndian(buffer[length..], 0);
        return length + NtpPacket.CryptoNakLength;
    }
}
