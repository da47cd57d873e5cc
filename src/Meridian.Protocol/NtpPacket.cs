using System.Buffers.Binary;

namespace Meridian.Protocol;

/// <summary>Why a datagram is not a well-formed NTP packet. Malformed input is a result, never an exception.</summary>
public enum PacketStatus
{
    Ok,

    /// <summary>Fewer than 48 octets.</summary>
    TooShort,

    /// <summary>Version 0 or above 4.</summary>
    BadVersion,

    /// <summary>An extension field with a length below 16, not a multiple of 4, or past the end of the datagram.</summary>
    BadExtensionField,

    /// <summary>What follows the header and extension fields is not a MAC or crypto-NAK of a known length.</summary>
    BadTrailer,
}

/// <summary>
/// A parsed NTP packet (modes 1–5): the header, the RFC 7822 extension fields and the MAC trailer, as views into the
/// datagram. Parsing checks every length against the datagram and allocates nothing.
/// </summary>
public readonly ref struct NtpPacket
{
    /// <summary>Shortest extension field (RFC 7822 §3).</summary>
    public const int MinExtensionFieldLength = 16;

    /// <summary>A crypto-NAK: a MAC trailer that is only a zero key ID.</summary>
    public const int CryptoNakLength = 4;

    /// <summary>Key ID + 16-octet digest (MD5, AES-128-CMAC).</summary>
    public const int Mac16Length = 20;

    /// <summary>Key ID + 20-octet digest (SHA-1).</summary>
    public const int Mac20Length = 24;

    private NtpPacket(NtpHeader header, ReadOnlySpan<byte> extensionFields, ReadOnlySpan<byte> mac, ReadOnlySpan<byte> authenticated)
    {
        Header = header;
        ExtensionFields = extensionFields;
        Mac = mac;
        Authenticated = authenticated;
    }

    public NtpHeader Header { get; }

    /// <summary>All extension fields, back to back; walk them with <see cref="EnumerateExtensionFields"/>.</summary>
    public ReadOnlySpan<byte> ExtensionFields { get; }

    /// <summary>The MAC trailer (key ID + digest), a 4-octet crypto-NAK, or empty.</summary>
    public ReadOnlySpan<byte> Mac { get; }

    /// <summary>The octets a MAC covers: header and extension fields.</summary>
    public ReadOnlySpan<byte> Authenticated { get; }

    public bool HasMac => Mac.Length > CryptoNakLength;

    public bool IsCryptoNak => Mac.Length == CryptoNakLength;

    /// <summary>Key ID of the MAC or crypto-NAK; 0 when there is none.</summary>
    public uint KeyId => Mac.Length >= 4 ? BinaryPrimitives.ReadUInt32BigEndian(Mac) : 0;

    /// <summary>The digest that follows the key ID.</summary>
    public ReadOnlySpan<byte> Digest => Mac.Length > 4 ? Mac[4..] : ReadOnlySpan<byte>.Empty;

    public ExtensionFieldEnumerator EnumerateExtensionFields() => new(ExtensionFields);

    /// <summary>
    /// Parses a datagram. After the header, extension fields are walked while more than a MAC's worth of octets
    /// remains (ntpd's rule, RFC 7822 §7.5); what is left must be empty, a crypto-NAK, or a 16- or 20-octet MAC.
    /// </summary>
    public static PacketStatus TryParse(ReadOnlySpan<byte> datagram, out NtpPacket packet)
    {
        packet = default;
        if (!NtpHeader.TryRead(datagram, out NtpHeader header))
        {
            return PacketStatus.TooShort;
        }

        if (header.Version is 0 or > 4)
        {
            return PacketStatus.BadVersion;
        }

        int position = NtpHeader.Size;
        if (header.Version == 4)
        {
            while (datagram.Length - position > Mac20Length)
            {
                ReadOnlySpan<byte> rest = datagram[position..];
                int length = BinaryPrimitives.ReadUInt16BigEndian(rest[2..]);
                if (length < MinExtensionFieldLength || length % 4 != 0 || length > rest.Length)
                {
                    return PacketStatus.BadExtensionField;
                }

                position += length;
            }
        }

        int trailer = datagram.Length - position;
        if (trailer is not (0 or CryptoNakLength or Mac16Length or Mac20Length))
        {
            return PacketStatus.BadTrailer;
        }

        packet = new NtpPacket(
            header,
            datagram[NtpHeader.Size..position],
            datagram[position..],
            datagram[..position]);
        return PacketStatus.Ok;
    }
}

/// <summary>One RFC 7822 extension field: a 16-bit type and its value (padding included).</summary>
public readonly ref struct ExtensionField
{
    public ExtensionField(ushort type, ReadOnlySpan<byte> value)
    {
        Type = type;
        Value = value;
    }

    public ushort Type { get; }

    public ReadOnlySpan<byte> Value { get; }
}

/// <summary>Walks extension fields already validated by <see cref="NtpPacket.TryParse"/>.</summary>
public ref struct ExtensionFieldEnumerator
{
    private ReadOnlySpan<byte> _remaining;

    internal ExtensionFieldEnumerator(ReadOnlySpan<byte> fields)
    {
        _remaining = fields;
        Current = default;
    }

    public ExtensionField Current { get; private set; }

    public readonly ExtensionFieldEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_remaining.Length < 4)
        {
            return false;
        }

        ushort type = BinaryPrimitives.ReadUInt16BigEndian(_remaining);
        int length = BinaryPrimitives.ReadUInt16BigEndian(_remaining[2..]);
        if (length < 4 || length > _remaining.Length)
        {
            return false;
        }

        Current = new ExtensionField(type, _remaining[4..length]);
        _remaining = _remaining[length..];
        return true;
    }
}

/// <summary>Writes extension fields, padding each to a multiple of four octets and to at least 16.</summary>
public static class ExtensionFieldWriter
{
    /// <summary>Writes one field and returns the octets used.</summary>
    public static int Write(Span<byte> destination, ushort type, ReadOnlySpan<byte> value)
    {
        int length = Math.Max(NtpPacket.MinExtensionFieldLength, (4 + value.Length + 3) & ~3);
        if (length > ushort.MaxValue || destination.Length < length)
        {
            throw new ArgumentException("The extension field does not fit.", nameof(destination));
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination, type);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)length);
        value.CopyTo(destination[4..]);
        destination[(4 + value.Length)..length].Clear();
        return length;
    }
}
