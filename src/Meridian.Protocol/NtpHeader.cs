namespace Meridian.Protocol;

/// <summary>
/// The 48-octet NTP header (RFC 5905 figure 8). A mutable value type so that the server can build a reply on the
/// stack without allocating.
/// </summary>
public struct NtpHeader
{
    /// <summary>Octets in the header.</summary>
    public const int Size = 48;

    /// <summary>The stratum that means "unsynchronized"; it travels as 0 (RFC 5905 §7.3).</summary>
    public const byte UnsynchronizedStratum = 16;

    public LeapIndicator Leap { get; set; }

    public byte Version { get; set; }

    public NtpMode Mode { get; set; }

    /// <summary>Stratum as on the wire: 0 is a kiss or unspecified, 1 primary, 2–15 secondary, 16 unsynchronized.</summary>
    public byte Stratum { get; set; }

    /// <summary>log2 of the poll interval in seconds.</summary>
    public sbyte Poll { get; set; }

    /// <summary>log2 of the clock precision in seconds.</summary>
    public sbyte Precision { get; set; }

    public NtpShort RootDelay { get; set; }

    public NtpShort RootDispersion { get; set; }

    public ReferenceId ReferenceId { get; set; }

    public NtpTimestamp ReferenceTimestamp { get; set; }

    /// <summary>T1 as echoed by the server (RFC 5905 "org").</summary>
    public NtpTimestamp OriginTimestamp { get; set; }

    /// <summary>T2: when the request arrived at the server ("rec").</summary>
    public NtpTimestamp ReceiveTimestamp { get; set; }

    /// <summary>T3: when the packet left its sender ("xmt").</summary>
    public NtpTimestamp TransmitTimestamp { get; set; }

    /// <summary>Reads mode and version from the first octet without requiring a whole header (mode 6 headers are shorter).</summary>
    public static bool TryPeekModeAndVersion(ReadOnlySpan<byte> datagram, out NtpMode mode, out byte version)
    {
        if (datagram.IsEmpty)
        {
            mode = NtpMode.Reserved;
            version = 0;
            return false;
        }

        mode = (NtpMode)(datagram[0] & 0x7);
        version = (byte)((datagram[0] >> 3) & 0x7);
        return true;
    }

    /// <summary>Decodes the first 48 octets. Field values are not judged here; the caller knows what it expects.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out NtpHeader header)
    {
        if (source.Length < Size)
        {
            header = default;
            return false;
        }

        header = new NtpHeader
        {
            Leap = (LeapIndicator)(source[0] >> 6),
            Version = (byte)((source[0] >> 3) & 0x7),
            Mode = (NtpMode)(source[0] & 0x7),
            Stratum = source[1],
            Poll = (sbyte)source[2],
            Precision = (sbyte)source[3],
            RootDelay = NtpShort.Read(source[4..]),
            RootDispersion = NtpShort.Read(source[8..]),
            ReferenceId = ReferenceId.Read(source[12..]),
            ReferenceTimestamp = NtpTimestamp.Read(source[16..]),
            OriginTimestamp = NtpTimestamp.Read(source[24..]),
            ReceiveTimestamp = NtpTimestamp.Read(source[32..]),
            TransmitTimestamp = NtpTimestamp.Read(source[40..]),
        };
        return true;
    }

    /// <summary>Encodes into the first 48 octets of <paramref name="destination"/>.</summary>
    public readonly void Write(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException("The destination is shorter than an NTP header.", nameof(destination));
        }

        destination[0] = (byte)(((int)Leap & 0x3) << 6 | (Version & 0x7) << 3 | ((int)Mode & 0x7));
        destination[1] = Stratum;
        destination[2] = (byte)Poll;
        destination[3] = (byte)Precision;
        RootDelay.Write(destination[4..]);
        RootDispersion.Write(destination[8..]);
        ReferenceId.Write(destination[12..]);
        ReferenceTimestamp.Write(destination[16..]);
        OriginTimestamp.Write(destination[24..]);
        ReceiveTimestamp.Write(destination[32..]);
        TransmitTimestamp.Write(destination[40..]);
    }

    /// <summary>Overwrites only the transmit timestamp of an encoded header: the last thing set before a packet leaves.</summary>
    public static void PatchTransmitTimestamp(Span<byte> encoded, NtpTimestamp transmit) => transmit.Write(encoded[40..]);
}
