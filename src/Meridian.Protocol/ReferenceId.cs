using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Meridian.Protocol;

/// <summary>
/// The 32-bit reference identifier. Its meaning depends on the stratum of the packet that carries it: four ASCII
/// characters for a reference clock (stratum 1) or a kiss code (stratum 0), otherwise the IPv4 address of the upstream
/// server, or the first four octets of the MD5 digest of its IPv6 address (RFC 5905 §7.3).
/// </summary>
public readonly struct ReferenceId : IEquatable<ReferenceId>
{
    public ReferenceId(uint value) => Value = value;

    /// <summary>The four octets as a big-endian number, as they stand on the wire.</summary>
    public uint Value { get; }

    /// <summary>Builds an ASCII code such as <c>LOCL</c>, <c>GPS</c> or <c>RATE</c>; shorter codes are padded with NULs.</summary>
    /// <summary>What an orphan parent sends as its reference ID: 127.0.0.1, as ntpd does.</summary>
    public static ReferenceId OrphanParent { get; } = new(0x7F000001);

    public static ReferenceId FromAscii(string code)
    {
        ArgumentNullException.ThrowIfNull(code);
        if (code.Length > 4)
        {
            throw new ArgumentException("A reference ID code has at most four characters.", nameof(code));
        }

        uint value = 0;
        for (int i = 0; i < 4; i++)
        {
            char c = i < code.Length ? code[i] : '\0';
            if (c > 0x7F)
            {
                throw new ArgumentException("A reference ID code is ASCII.", nameof(code));
            }

            value = (value << 8) | c;
        }

        return new ReferenceId(value);
    }

    /// <summary>The reference ID a server synchronized to <paramref name="address"/> advertises.</summary>
    public static ReferenceId FromAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(bytes, out _);
            return new ReferenceId(BinaryPrimitives.ReadUInt32BigEndian(bytes));
        }

        address.TryWriteBytes(bytes, out _);
        Span<byte> digest = stackalloc byte[MD5.HashSizeInBytes];
        MD5.HashData(bytes, digest);
        return new ReferenceId(BinaryPrimitives.ReadUInt32BigEndian(digest));
    }

    public static ReferenceId Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt32BigEndian(source));

    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt32BigEndian(destination, Value);

    /// <summary>The octets as ASCII with trailing NULs removed, non-printable characters shown as '?'.</summary>
    public string ToAscii()
    {
        Span<char> chars = stackalloc char[4];
        int length = 0;
        for (int i = 0; i < 4; i++)
        {
            byte b = (byte)(Value >> (24 - 8 * i));
            chars[i] = b is >= 0x20 and < 0x7F ? (char)b : b == 0 ? '\0' : '?';
            if (b != 0)
            {
                length = i + 1;
            }
        }

        return new string(chars[..length]).Replace('\0', '?');
    }

    /// <summary>The dotted-quad form, <c>192.0.2.1</c>.</summary>
    public string ToDottedQuad() =>
        $"{(byte)(Value >> 24)}.{(byte)(Value >> 16)}.{(byte)(Value >> 8)}.{(byte)Value}";

    /// <summary>Formats as the stratum of the carrying packet says: ASCII for strata 0 and 1, dotted quad above.</summary>
    public string ToString(int stratum) => stratum <= 1 ? ToAscii() : ToDottedQuad();

    public override string ToString() => ToDottedQuad();

    public static bool operator ==(ReferenceId a, ReferenceId b) => a.Value == b.Value;

    public static bool operator !=(ReferenceId a, ReferenceId b) => a.Value != b.Value;

    public bool Equals(ReferenceId other) => Value == other.Value;

    public override bool Equals(object? obj) => obj is ReferenceId other && Equals(other);

    public override int GetHashCode() => (int)Value;
}
