using System.Buffers.Binary;
using System.Text;

namespace Meridian.Protocol.Nts;

/// <summary>Why an NTS-KE message was not accepted. Malformed input is a result, never an exception.</summary>
public enum NtsKeProblem
{
    None,

    /// <summary>No End of Message yet: read more from the TLS stream.</summary>
    Incomplete,

    /// <summary>Past the length limit (RFC 8915 §4: servers must accept at least 1024 octets, clients 65536).</summary>
    TooLong,

    /// <summary>Octets after End of Message (RFC 8915 §4.1.1: it is the last record).</summary>
    RecordAfterEndOfMessage,

    /// <summary>A critical record of a type we do not know (RFC 8915 §4: answer Error 0).</summary>
    UnrecognizedCriticalRecord,

    /// <summary>End of Message, Next Protocol, Error or Warning without the critical bit, which they must carry.</summary>
    CriticalBitMissing,

    /// <summary>A body of the wrong length for its type: not 2 octets for a 16-bit value, odd for a list, non-empty End of Message.</summary>
    BadBodyLength,

    /// <summary>A second record of a type that appears at most once.</summary>
    DuplicateRecord,

    /// <summary>No Next Protocol Negotiation record (RFC 8915 §4.1.2: exactly one in each request and response).</summary>
    MissingNextProtocol,

    /// <summary>A request that offers no protocol, or a response that names more than one.</summary>
    BadNextProtocolList,

    /// <summary>NTPv4 offered or chosen without an AEAD Algorithm Negotiation record (RFC 8915 §4.1.5).</summary>
    MissingAeadAlgorithm,

    /// <summary>A request with an empty AEAD list, or a response that names more than one.</summary>
    BadAeadList,

    /// <summary>A record the other side must not send: Error or Warning in a request (RFC 8915 §4.1.3, §4.1.4).</summary>
    UnexpectedRecord,

    /// <summary>More cookies than <see cref="NtsKeLimits.MaxCookies"/>.</summary>
    TooManyCookies,

    /// <summary>An empty cookie, or one longer than <see cref="NtsKeLimits.MaxCookieLength"/>.</summary>
    BadCookie,

    /// <summary>A server name that is empty, too long, or not printable ASCII (RFC 8915 §4.1.7).</summary>
    BadServerName,
}

/// <summary>The outcome of parsing an NTS-KE message: the problem, and the record type it was found in.</summary>
public readonly record struct NtsKeParseResult(NtsKeProblem Problem, ushort RecordType = 0)
{
    public bool IsOk => Problem == NtsKeProblem.None;

    /// <summary>
    /// The Error record a server sends back for a bad request (RFC 8915 §4.1.3), or null when there is nothing to
    /// answer yet (the request is fine, or incomplete).
    /// </summary>
    public NtsKeErrorCode? ServerError => Problem switch
    {
        NtsKeProblem.None or NtsKeProblem.Incomplete => null,
        NtsKeProblem.UnrecognizedCriticalRecord => NtsKeErrorCode.UnrecognizedCriticalRecord,
        _ => NtsKeErrorCode.BadRequest,
    };
}

/// <summary>Bounds applied when parsing; the RFC leaves them to the implementation within the minimums it sets.</summary>
public sealed record NtsKeLimits
{
    /// <summary>For servers reading requests: RFC 8915 §4 requires accepting at least 1024 octets.</summary>
    public static NtsKeLimits Request { get; } = new() { MaxMessageLength = 16 * 1024 };

    /// <summary>For clients reading responses: RFC 8915 §4 asks clients to accept at least 65536 octets.</summary>
    public static NtsKeLimits Response { get; } = new() { MaxMessageLength = 65536 };

    public int MaxMessageLength { get; init; } = 16 * 1024;

    /// <summary>The server should send eight (RFC 8915 §4.1.6); a client keeps no more than that.</summary>
    public int MaxCookies { get; init; } = 8;

    public int MaxCookieLength { get; init; } = 1024;

    /// <summary>A DNS name is at most 253 characters; IP literals are shorter.</summary>
    public int MaxServerNameLength { get; init; } = 255;
}

/// <summary>Parsing shared by requests and responses: the record rules of RFC 8915 §4 that do not depend on direction.</summary>
internal static class NtsKeRules
{
    /// <summary>Types whose critical bit must be set (RFC 8915 §4.1.1–§4.1.4).</summary>
    public static bool MustBeCritical(ushort type) => type is (ushort)NtsKeRecordType.EndOfMessage or (ushort)NtsKeRecordType.NextProtocolNegotiation
        or (ushort)NtsKeRecordType.Error or (ushort)NtsKeRecordType.Warning;

    public static bool IsKnown(ushort type) => type <= (ushort)NtsKeRecordType.NtpPortNegotiation;

    /// <summary>Checks framing, End of Message placement, critical bits and body lengths; calls back for each record before End of Message.</summary>
    public static NtsKeParseResult Walk<TState>(ReadOnlySpan<byte> message, int maxLength, ref TState state, RecordHandler<TState> handle)
    {
        var reader = new NtsKeRecordReader(message, maxLength);
        uint seen = 0;
        while (true)
        {
            switch (reader.Read(out NtsKeRecord record))
            {
                case NtsKeReadStatus.End or NtsKeReadStatus.Incomplete:
                    return new(NtsKeProblem.Incomplete);
                case NtsKeReadStatus.TooLong:
                    return new(NtsKeProblem.TooLong);
            }

            ushort type = record.Type;
            if (!IsKnown(type))
            {
                if (record.Critical)
                {
                    return new(NtsKeProblem.UnrecognizedCriticalRecord, type);
                }

                continue; // RFC 8915 §4: unknown non-critical records are ignored.
            }

            if (MustBeCritical(type) && !record.Critical)
            {
                return new(NtsKeProblem.CriticalBitMissing, type);
            }

            if (!BodyLengthFits(type, record.Body.Length))
            {
                return new(NtsKeProblem.BadBodyLength, type);
            }

            if (type == (ushort)NtsKeRecordType.EndOfMessage)
            {
                return reader.Consumed == message.Length ? new(NtsKeProblem.None) : new(NtsKeProblem.RecordAfterEndOfMessage, type);
            }

            // Every known type but New Cookie appears at most once.
            uint bit = 1u << type;
            if (type != (ushort)NtsKeRecordType.NewCookieForNtpv4 && (seen & bit) != 0)
            {
                return new(NtsKeProblem.DuplicateRecord, type);
            }

            seen |= bit;
            NtsKeProblem problem = handle(ref state, type, record.Body);
            if (problem != NtsKeProblem.None)
            {
                return new(problem, type);
            }
        }
    }

    public delegate NtsKeProblem RecordHandler<TState>(ref TState state, ushort type, ReadOnlySpan<byte> body);

    private static bool BodyLengthFits(ushort type, int length) => (NtsKeRecordType)type switch
    {
        NtsKeRecordType.EndOfMessage => length == 0,
        NtsKeRecordType.Error or NtsKeRecordType.Warning or NtsKeRecordType.NtpPortNegotiation => length == 2,
        NtsKeRecordType.NextProtocolNegotiation or NtsKeRecordType.AeadAlgorithmNegotiation => length % 2 == 0,
        _ => true,
    };

    public static ushort[] ReadList(ReadOnlySpan<byte> body)
    {
        var values = new ushort[body.Length / 2];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadUInt16BigEndian(body[(2 * i)..]);
        }

        return values;
    }

    /// <summary>An IPv4/IPv6 literal or a DNS name (A-labels): printable ASCII without spaces (RFC 8915 §4.1.7).</summary>
    public static string? ReadServerName(ReadOnlySpan<byte> body, int maxLength)
    {
        if (body.IsEmpty || body.Length > maxLength)
        {
            return null;
        }

        foreach (byte b in body)
        {
            if (b is < 0x21 or > 0x7E)
            {
                return null;
            }
        }

        return Encoding.ASCII.GetString(body);
    }

    public static byte[] ServerNameBytes(string server)
    {
        if (server.Length == 0 || server.Length > ushort.MaxValue || server.Any(c => c is < '!' or > '~'))
        {
            throw new ArgumentException("The server must be a non-empty printable ASCII host name or IP literal.", nameof(server));
        }

        return Encoding.ASCII.GetBytes(server);
    }

    public static byte[] Finish(NtsKeRecordWriter writer, byte[] buffer) => buffer.AsSpan(0, writer.Written).ToArray();
}

/// <summary>
/// A client's NTS-KE request (RFC 8915 §4): the protocols and AEAD algorithms it offers, most preferred first, and
/// optionally the NTP server and port it would like.
/// </summary>
public sealed class NtsKeRequest
{
    public IReadOnlyList<ushort> NextProtocols { get; init; } = [NtsKe.ProtocolNtpv4];

    /// <summary>Required when NTPv4 is offered (RFC 8915 §4.1.5); empty means the record is left out.</summary>
    public IReadOnlyList<ushort> AeadAlgorithms { get; init; } = [NtsKe.AeadAesSivCmac256];

    public string? Server { get; init; }

    public ushort? Port { get; init; }

    /// <summary>
    /// The request's octets: Next Protocol and AEAD (critical), then Server and Port (not critical: a server that does
    /// not know them may ignore the wish), then End of Message.
    /// </summary>
    public byte[] Encode()
    {
        byte[]? server = Server is null ? null : NtsKeRules.ServerNameBytes(Server);
        var buffer = new byte[64 + 2 * (NextProtocols.Count + AeadAlgorithms.Count) + (server?.Length ?? 0)];
        var writer = new NtsKeRecordWriter(buffer);
        bool ok = writer.WriteUInt16List((ushort)NtsKeRecordType.NextProtocolNegotiation, critical: true, [.. NextProtocols]);
        if (AeadAlgorithms.Count > 0)
        {
            ok &= writer.WriteUInt16List((ushort)NtsKeRecordType.AeadAlgorithmNegotiation, critical: true, [.. AeadAlgorithms]);
        }

        if (server is not null)
        {
            ok &= writer.Write((ushort)NtsKeRecordType.NtpServerNegotiation, critical: false, server);
        }

        if (Port is { } port)
        {
            ok &= writer.WriteUInt16((ushort)NtsKeRecordType.NtpPortNegotiation, critical: false, port);
        }

        ok &= writer.WriteEndOfMessage();
        return ok ? NtsKeRules.Finish(writer, buffer) : throw new ArgumentException("The request does not fit NTS-KE records.");
    }

    /// <summary>
    /// Parses one whole request (through End of Message). On failure <see cref="NtsKeParseResult.ServerError"/> is the
    /// Error record to answer with.
    /// </summary>
    public static NtsKeParseResult TryParse(ReadOnlySpan<byte> message, NtsKeLimits limits, out NtsKeRequest? request)
    {
        ArgumentNullException.ThrowIfNull(limits);
        request = null;
        var state = new State { Limits = limits };
        NtsKeParseResult result = NtsKeRules.Walk(message, limits.MaxMessageLength, ref state, Handle);
        if (!result.IsOk)
        {
            return result;
        }

        if (state.Protocols is null)
        {
            return new(NtsKeProblem.MissingNextProtocol, (ushort)NtsKeRecordType.NextProtocolNegotiation);
        }

        if (state.Aeads is null && Array.IndexOf(state.Protocols, NtsKe.ProtocolNtpv4) >= 0)
        {
            return new(NtsKeProblem.MissingAeadAlgorithm, (ushort)NtsKeRecordType.AeadAlgorithmNegotiation);
        }

        request = new NtsKeRequest { NextProtocols = state.Protocols, AeadAlgorithms = state.Aeads ?? [], Server = state.Server, Port = state.Port };
        return result;
    }

    public static NtsKeParseResult TryParse(ReadOnlySpan<byte> message, out NtsKeRequest? request) => TryParse(message, NtsKeLimits.Request, out request);

    private static NtsKeProblem Handle(ref State state, ushort type, ReadOnlySpan<byte> body)
    {
        switch ((NtsKeRecordType)type)
        {
            case NtsKeRecordType.NextProtocolNegotiation:
                // RFC 8915 §4.1.2: the client offers at least one protocol.
                state.Protocols = NtsKeRules.ReadList(body);
                return state.Protocols.Length == 0 ? NtsKeProblem.BadNextProtocolList : NtsKeProblem.None;
            case NtsKeRecordType.AeadAlgorithmNegotiation:
                // RFC 8915 §4.1.5: in requests the list includes at least one algorithm.
                state.Aeads = NtsKeRules.ReadList(body);
                return state.Aeads.Length == 0 ? NtsKeProblem.BadAeadList : NtsKeProblem.None;
            case NtsKeRecordType.Error or NtsKeRecordType.Warning:
                return NtsKeProblem.UnexpectedRecord;
            case NtsKeRecordType.NtpServerNegotiation:
                state.Server = NtsKeRules.ReadServerName(body, state.Limits.MaxServerNameLength);
                return state.Server is null ? NtsKeProblem.BadServerName : NtsKeProblem.None;
            case NtsKeRecordType.NtpPortNegotiation:
                state.Port = BinaryPrimitives.ReadUInt16BigEndian(body);
                return NtsKeProblem.None;
            default:
                // New Cookie from a client means nothing to the server; it is ignored (unsure: the RFC has no rule).
                return NtsKeProblem.None;
        }
    }

    private struct State
    {
        public NtsKeLimits Limits;
        public ushort[]? Protocols;
        public ushort[]? Aeads;
        public string? Server;
        public ushort? Port;
    }
}

/// <summary>
/// A server's NTS-KE response (RFC 8915 §4): the protocol and AEAD chosen (absent or empty when none is acceptable),
/// cookies, an optional server and port for NTP, and an Error or Warning.
/// </summary>
public sealed class NtsKeResponse
{
    /// <summary>At most one: the protocol chosen from the request's list (RFC 8915 §4.1.2); empty when none.</summary>
    public IReadOnlyList<ushort> NextProtocols { get; init; } = [];

    /// <summary>The algorithm chosen (RFC 8915 §4.1.5); null when the record was absent or empty.</summary>
    public ushort? AeadAlgorithm { get; init; }

    public IReadOnlyList<byte[]> Cookies { get; init; } = [];

    public string? Server { get; init; }

    public ushort? Port { get; init; }

    /// <summary>When set, the client must discard the keys and not go on to NTP (RFC 8915 §4.1.3).</summary>
    public NtsKeErrorCode? Error { get; init; }

    public ushort? Warning { get; init; }

    /// <summary>NTPv4 was chosen with an AEAD algorithm and at least one cookie: the client can start NTS-protected NTP.</summary>
    public bool IsUsableForNtpv4 => Error is null && NextProtocols.Count == 1 && NextProtocols[0] == NtsKe.ProtocolNtpv4
        && AeadAlgorithm is not null && Cookies.Count > 0;

    /// <summary>
    /// Whether what the server chose was offered (RFC 8915 §4.1.2, §4.1.5: the response's protocols are a subset of
    /// the request's, and the AEAD one the client listed); a client must not go on with anything else.
    /// </summary>
    public bool IsConsistentWith(NtsKeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return NextProtocols.All(request.NextProtocols.Contains) && (AeadAlgorithm is not { } aead || request.AeadAlgorithms.Contains(aead));
    }

    /// <summary>An Error response: Error record and End of Message, what a server sends before closing.</summary>
    public static byte[] EncodeError(NtsKeErrorCode code) => new NtsKeResponse { Error = code }.Encode();

    /// <summary>
    /// The response's octets: Next Protocol (when there is no Error, or when one was chosen), Error, Warning, AEAD,
    /// Server, Port (all critical, since a client must not misread them), New Cookie records, End of Message.
    /// </summary>
    public byte[] Encode()
    {
        byte[]? server = Server is null ? null : NtsKeRules.ServerNameBytes(Server);
        int cookieOctets = 0;
        foreach (byte[] cookie in Cookies)
        {
            cookieOctets += NtsKe.RecordHeaderLength + cookie.Length;
        }

        var buffer = new byte[64 + 2 * NextProtocols.Count + (server?.Length ?? 0) + cookieOctets];
        var writer = new NtsKeRecordWriter(buffer);
        bool ok = true;
        if (Error is null || NextProtocols.Count > 0)
        {
            ok &= writer.WriteUInt16List((ushort)NtsKeRecordType.NextProtocolNegotiation, critical: true, [.. NextProtocols]);
        }

        if (Error is { } error)
        {
            ok &= writer.WriteUInt16((ushort)NtsKeRecordType.Error, critical: true, (ushort)error);
        }

        if (Warning is { } warning)
        {
            ok &= writer.WriteUInt16((ushort)NtsKeRecordType.Warning, critical: true, warning);
        }

        if (AeadAlgorithm is { } aead)
        {
            ok &= writer.WriteUInt16List((ushort)NtsKeRecordType.AeadAlgorithmNegotiation, critical: true, [aead]);
        }
        else if (Error is null && NextProtocols.Contains(NtsKe.ProtocolNtpv4))
        {
            // NTPv4 chosen but no common AEAD: the record is present and empty (RFC 8915 §4.1.5).
            ok &= writer.WriteUInt16List((ushort)NtsKeRecordType.AeadAlgorithmNegotiation, critical: true, []);
        }

        if (server is not null)
        {
            ok &= writer.Write((ushort)NtsKeRecordType.NtpServerNegotiation, critical: true, server);
        }

        if (Port is { } port)
        {
            ok &= writer.WriteUInt16((ushort)NtsKeRecordType.NtpPortNegotiation, critical: true, port);
        }

        foreach (byte[] cookie in Cookies)
        {
            ok &= writer.Write((ushort)NtsKeRecordType.NewCookieForNtpv4, critical: false, cookie);
        }

        ok &= writer.WriteEndOfMessage();
        return ok ? NtsKeRules.Finish(writer, buffer) : throw new ArgumentException("The response does not fit NTS-KE records.");
    }

    /// <summary>
    /// Parses one whole response. A response with an Error record need not negotiate anything and is returned as is;
    /// otherwise Next Protocol must be present, and AEAD too when NTPv4 was chosen.
    /// </summary>
    public static NtsKeParseResult TryParse(ReadOnlySpan<byte> message, NtsKeLimits limits, out NtsKeResponse? response)
    {
        ArgumentNullException.ThrowIfNull(limits);
        response = null;
        var state = new State { Limits = limits, Cookies = [] };
        NtsKeParseResult result = NtsKeRules.Walk(message, limits.MaxMessageLength, ref state, Handle);
        if (!result.IsOk)
        {
            return result;
        }

        if (state.Error is null)
        {
            if (state.Protocols is null)
            {
                return new(NtsKeProblem.MissingNextProtocol, (ushort)NtsKeRecordType.NextProtocolNegotiation);
            }

            if (!state.HasAead && Array.IndexOf(state.Protocols, NtsKe.ProtocolNtpv4) >= 0)
            {
                return new(NtsKeProblem.MissingAeadAlgorithm, (ushort)NtsKeRecordType.AeadAlgorithmNegotiation);
            }
        }

        response = new NtsKeResponse
        {
            NextProtocols = state.Protocols ?? [],
            AeadAlgorithm = state.Aead,
            Cookies = state.Cookies,
            Server = state.Server,
            Port = state.Port,
            Error = state.Error,
            Warning = state.Warning,
        };
        return result;
    }

    public static NtsKeParseResult TryParse(ReadOnlySpan<byte> message, out NtsKeResponse? response) => TryParse(message, NtsKeLimits.Response, out response);

    private static NtsKeProblem Handle(ref State state, ushort type, ReadOnlySpan<byte> body)
    {
        switch ((NtsKeRecordType)type)
        {
            case NtsKeRecordType.NextProtocolNegotiation:
                state.Protocols = NtsKeRules.ReadList(body);
                return state.Protocols.Length > 1 ? NtsKeProblem.BadNextProtocolList : NtsKeProblem.None;
            case NtsKeRecordType.AeadAlgorithmNegotiation:
                // RFC 8915 §4.1.5: in responses the list has at most one algorithm, empty when none was acceptable.
                state.HasAead = true;
                if (body.Length > 2)
                {
                    return NtsKeProblem.BadAeadList;
                }

                state.Aead = body.Length == 2 ? BinaryPrimitives.ReadUInt16BigEndian(body) : null;
                return NtsKeProblem.None;
            case NtsKeRecordType.Error:
                state.Error = (NtsKeErrorCode)BinaryPrimitives.ReadUInt16BigEndian(body);
                return NtsKeProblem.None;
            case NtsKeRecordType.Warning:
                state.Warning = BinaryPrimitives.ReadUInt16BigEndian(body);
                return NtsKeProblem.None;
            case NtsKeRecordType.NewCookieForNtpv4:
                if (body.IsEmpty || body.Length > state.Limits.MaxCookieLength)
                {
                    return NtsKeProblem.BadCookie;
                }

                if (state.Cookies.Count == state.Limits.MaxCookies)
                {
                    return NtsKeProblem.TooManyCookies;
                }

                state.Cookies.Add(body.ToArray());
                return NtsKeProblem.None;
            case NtsKeRecordType.NtpServerNegotiation:
                state.Server = NtsKeRules.ReadServerName(body, state.Limits.MaxServerNameLength);
                return state.Server is null ? NtsKeProblem.BadServerName : NtsKeProblem.None;
            case NtsKeRecordType.NtpPortNegotiation:
                state.Port = BinaryPrimitives.ReadUInt16BigEndian(body);
                return NtsKeProblem.None;
            default:
                return NtsKeProblem.None;
        }
    }

    private struct State
    {
        public NtsKeLimits Limits;
        public ushort[]? Protocols;
        public bool HasAead;
        public ushort? Aead;
        public List<byte[]> Cookies;
        public string? Server;
        public ushort? Port;
        public NtsKeErrorCode? Error;
        public ushort? Warning;
    }
}
