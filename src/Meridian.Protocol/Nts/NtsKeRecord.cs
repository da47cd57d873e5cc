using System.Buffers;
using System.Buffers.Binary;

namespace Meridian.Protocol.Nts;

/// <summary>NTS-KE record types (RFC 8915 §4.1, IANA "Network Time Security Key Establishment Record Types").</summary>
public enum NtsKeRecordType : ushort
{
    EndOfMessage = 0,
    NextProtocolNegotiation = 1,
    Error = 2,
    Warning = 3,
    AeadAlgorithmNegotiation = 4,
    NewCookieForNtpv4 = 5,
    NtpServerNegotiation = 6,
    NtpPortNegotiation = 7,
}

/// <summary>Error record codes (RFC 8915 §4.1.3); sent by the server, after which it closes the connection.</summary>
public enum NtsKeErrorCode : ushort
{
    UnrecognizedCriticalRecord = 0,
    BadRequest = 1,
    InternalServerError = 2,
}

/// <summary>Constants of NTS-KE that are wire format rather than policy (RFC 8915 §4, §5.1, §7).</summary>
public static class NtsKe
{
    /// <summary>TCP port of NTS-KE (RFC 8915 §7.1).</summary>
    public const int Port = 4460;

    /// <summary>The TLS ALPN protocol ID the client must offer (RFC 8915 §4).</summary>
    public const string AlpnProtocol = "ntske/1";

    /// <summary>TLS exporter label for the C2S and S2C keys (RFC 8915 §5.1).</summary>
    public const string ExporterLabel = "EXPORTER-network-time-security";

    /// <summary>Critical bit + 15-bit type, then 16-bit body length (RFC 8915 §4).</summary>
    public const int RecordHeaderLength = 4;

    public const ushort CriticalBit = 0x8000;

    /// <summary>Protocol ID of NTPv4 in Next Protocol Negotiation (RFC 8915 §7.7).</summary>
    public const ushort ProtocolNtpv4 = 0;

    /// <summary>AEAD_AES_SIV_CMAC_256 (RFC 5297), mandatory to implement (RFC 8915 §4.1.5).</summary>
    public const ushort AeadAesSivCmac256 = 15;

    public const ushort AeadAesSivCmac384 = 16;

    public const ushort AeadAesSivCmac512 = 17;

    /// <summary>AEAD_AES_128_GCM_SIV (RFC 8452).</summary>
    public const ushort AeadAes128GcmSiv = 30;

    public const ushort AeadAes256GcmSiv = 31;

    /// <summary>Length of the exporter context (RFC 8915 §5.1).</summary>
    public const int ExporterContextLength = 5;

    /// <summary>
    /// Writes the TLS exporter context: protocol ID, AEAD ID, then 0x00 for the client-to-server key or 0x01 for the
    /// server-to-client key (RFC 8915 §5.1). Returns the octets written.
    /// </summary>
    public static int WriteExporterContext(Span<byte> destination, ushort protocolId, ushort aeadId, bool serverToClient)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, protocolId);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], aeadId);
        destination[4] = serverToClient ? (byte)1 : (byte)0;
        return ExporterContextLength;
    }
}

/// <summary>One NTS-KE record as a view into the stream buffer (RFC 8915 §4).</summary>
public readonly ref struct NtsKeRecord
{
    public NtsKeRecord(bool critical, ushort type, ReadOnlySpan<byte> body)
    {
        Critical = critical;
        Type = type;
        Body = body;
    }

    /// <summary>A recipient that does not know <see cref="Type"/> must reject the message when this is set.</summary>
    public bool Critical { get; }

    /// <summary>The 15-bit record type; compare with <see cref="NtsKeRecordType"/>.</summary>
    public ushort Type { get; }

    public ReadOnlySpan<byte> Body { get; }

    /// <summary>Header plus body: how far the stream advances past this record.</summary>
    public int Length => NtsKe.RecordHeaderLength + Body.Length;
}

/// <summary>What <see cref="NtsKeRecordReader.Read"/> found.</summary>
public enum NtsKeReadStatus
{
    /// <summary>A whole record is in the buffer.</summary>
    Record,

    /// <summary>The buffer ends exactly at a record boundary.</summary>
    End,

    /// <summary>The buffer ends inside a record: TLS may split records anywhere, so wait for more octets.</summary>
    Incomplete,

    /// <summary>The record would take the message past its length limit; waiting cannot help.</summary>
    TooLong,
}

/// <summary>Where a message ends in a stream buffer (<see cref="NtsKeRecordReader.Frame"/>).</summary>
public enum NtsKeFrameStatus
{
    /// <summary>An End of Message record was found; the message is the first <c>length</c> octets.</summary>
    Complete,

    Incomplete,

    TooLong,
}

/// <summary>
/// Walks NTS-KE records in a buffer received so far. Record framing itself cannot be malformed (every header is
/// valid); the reader only tells a finished record from a partial one, and enforces a message length limit so that
/// a peer cannot make us buffer without end (RFC 8915 §4 lets implementations limit message sizes).
/// </summary>
public ref struct NtsKeRecordReader
{
    private readonly ReadOnlySpan<byte> _buffer;
    private readonly int _maxLength;

    public NtsKeRecordReader(ReadOnlySpan<byte> buffer, int maxLength = int.MaxValue)
    {
        _buffer = buffer;
        _maxLength = maxLength;
        Consumed = 0;
    }

    /// <summary>Octets of the records read so far.</summary>
    public int Consumed { get; private set; }

    public NtsKeReadStatus Read(out NtsKeRecord record)
    {
        record = default;
        ReadOnlySpan<byte> rest = _buffer[Consumed..];
        if (rest.IsEmpty)
        {
            return NtsKeReadStatus.End;
        }

        if (rest.Length < NtsKe.RecordHeaderLength)
        {
            return Consumed + NtsKe.RecordHeaderLength > _maxLength ? NtsKeReadStatus.TooLong : NtsKeReadStatus.Incomplete;
        }

        ushort first = BinaryPrimitives.ReadUInt16BigEndian(rest);
        int bodyLength = BinaryPrimitives.ReadUInt16BigEndian(rest[2..]);
        int length = NtsKe.RecordHeaderLength + bodyLength;
        if ((long)Consumed + length > _maxLength)
        {
            return NtsKeReadStatus.TooLong;
        }

        if (rest.Length < length)
        {
            return NtsKeReadStatus.Incomplete;
        }

        record = new NtsKeRecord((first & NtsKe.CriticalBit) != 0, (ushort)(first & 0x7FFF), rest[NtsKe.RecordHeaderLength..length]);
        Consumed += length;
        return NtsKeReadStatus.Record;
    }

    /// <summary>
    /// Finds the end of the first message: the record of type End of Message (whatever its critical bit; the message
    /// parser judges that). A connection reader calls this on each read until it is not <see cref="NtsKeFrameStatus.Incomplete"/>.
    /// </summary>
    public static NtsKeFrameStatus Frame(ReadOnlySpan<byte> buffer, int maxLength, out int length)
    {
        var reader = new NtsKeRecordReader(buffer, maxLength);
        while (true)
        {
            NtsKeReadStatus status = reader.Read(out NtsKeRecord record);
            switch (status)
            {
                case NtsKeReadStatus.Record when record.Type == (ushort)NtsKeRecordType.EndOfMessage:
                    length = reader.Consumed;
                    return NtsKeFrameStatus.Complete;
                case NtsKeReadStatus.Record:
                    continue;
                case NtsKeReadStatus.TooLong:
                    length = 0;
                    return NtsKeFrameStatus.TooLong;
                default:
                    length = 0;
                    return NtsKeFrameStatus.Incomplete;
            }
        }
    }
}

/// <summary>
/// Writes NTS-KE records into a span. Each method returns false, writing nothing, when the record does not fit, so
/// a caller can size its buffer once; bodies longer than 65535 octets are refused the same way.
/// </summary>
public ref struct NtsKeRecordWriter
{
    private readonly Span<byte> _destination;

    public NtsKeRecordWriter(Span<byte> destination)
    {
        _destination = destination;
        Written = 0;
    }

    public int Written { get; private set; }

    public readonly ReadOnlySpan<byte> WrittenSpan => _destination[..Written];

    public bool Write(ushort type, bool critical, scoped ReadOnlySpan<byte> body)
    {
        if (!TryReserve(type, critical, body.Length, out Span<byte> slot))
        {
            return false;
        }

        body.CopyTo(slot);
        return true;
    }

    /// <summary>A body that is a list of 16-bit values (Next Protocol, AEAD Algorithm Negotiation, RFC 8915 §4.1.2, §4.1.5).</summary>
    public bool WriteUInt16List(ushort type, bool critical, scoped ReadOnlySpan<ushort> values)
    {
        if (values.Length > ushort.MaxValue / 2 || !TryReserve(type, critical, values.Length * 2, out Span<byte> slot))
        {
            return false;
        }

        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(slot[(2 * i)..], values[i]);
        }

        return true;
    }

    /// <summary>A body of one 16-bit value (Error, Warning, Port Negotiation).</summary>
    public bool WriteUInt16(ushort type, bool critical, ushort value)
    {
        if (!TryReserve(type, critical, 2, out Span<byte> slot))
        {
            return false;
        }

        BinaryPrimitives.WriteUInt16BigEndian(slot, value);
        return true;
    }

    /// <summary>End of Message: critical, empty body (RFC 8915 §4.1.1).</summary>
    public bool WriteEndOfMessage() => Write((ushort)NtsKeRecordType.EndOfMessage, critical: true, ReadOnlySpan<byte>.Empty);

    private bool TryReserve(ushort type, bool critical, int bodyLength, out Span<byte> body)
    {
        body = default;
        if (type > 0x7FFF || bodyLength > ushort.MaxValue || _destination.Length - Written < NtsKe.RecordHeaderLength + bodyLength)
        {
            return false;
        }

        Span<byte> record = _destination[Written..];
        BinaryPrimitives.WriteUInt16BigEndian(record, (ushort)(type | (critical ? NtsKe.CriticalBit : 0)));
        BinaryPrimitives.WriteUInt16BigEndian(record[2..], (ushort)bodyLength);
        body = record.Slice(NtsKe.RecordHeaderLength, bodyLength);
        Written += NtsKe.RecordHeaderLength + bodyLength;
        return true;
    }

    /// <summary>Appends one record to a buffer writer (for a TLS stream's send buffer).</summary>
    public static void Write(IBufferWriter<byte> output, ushort type, bool critical, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(output);
        int length = NtsKe.RecordHeaderLength + body.Length;
        var writer = new NtsKeRecordWriter(output.GetSpan(length));
        if (!writer.Write(type, critical, body))
        {
            throw new ArgumentException("An NTS-KE record body is at most 65535 octets.", nameof(body));
        }

        output.Advance(length);
    }
}
