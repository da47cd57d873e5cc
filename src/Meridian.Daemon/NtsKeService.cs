using Meridian.Engine.Nts;
using Meridian.Host.Nts;
using Meridian.Protocol.Nts;

namespace Meridian.Daemon;

/// <summary>
/// What the NTS-KE server answers (RFC 8915 §4): NTPv4 when the client offers it, the first AEAD of the client's list
/// that we support (the client's preference, §4.1.5), the session keys from the TLS exporter sealed into eight fresh
/// cookies, and the NTP server and port when they are not this host's (one NTS-KE host fronting a fleet that shares
/// the cookie keys). A malformed request gets the Error record the RFC names, then the connection closes.
/// </summary>
public sealed class NtsKeService(ServerCookieKeys cookieKeys, string? ntpServer = null, ushort? ntpPort = null)
{
    /// <summary>Cookies per response: what a client's jar holds (RFC 8915 §4.1.6, eight).</summary>
    public const int CookiesPerResponse = 8;

    private long _responses;
    private long _errors;

    /// <summary>Responses that gave keys and cookies.</summary>
    public long Responses => Interlocked.Read(ref _responses);

    /// <summary>Requests answered with an Error record, or with no common protocol or AEAD.</summary>
    public long Refused => Interlocked.Read(ref _errors);

    /// <summary>The TLS server's handler: called with every byte read so far, answers once the request is whole.</summary>
    public NtsKeReply Handle(ReadOnlySpan<byte> received, NtsKeTlsSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        switch (NtsKeRecordReader.Frame(received, NtsKeLimits.Request.MaxMessageLength, out int length))
        {
            case NtsKeFrameStatus.Incomplete:
                return NtsKeReply.NeedMore;
            case NtsKeFrameStatus.Complete:
                break;
            default:
                Interlocked.Increment(ref _errors);
                return NtsKeReply.Respond(NtsKeResponse.EncodeError(NtsKeErrorCode.BadRequest));
        }

        return NtsKeReply.Respond(Answer(received[..length], session.ExportKey));
    }

    /// <summary>The response to one whole request; <paramref name="export"/> is the TLS exporter (protocol, AEAD, direction, length).</summary>
    public byte[] Answer(ReadOnlySpan<byte> request, Func<ushort, ushort, bool, int, byte[]> export)
    {
        ArgumentNullException.ThrowIfNull(export);
        NtsKeParseResult parsed = NtsKeRequest.TryParse(request, out NtsKeRequest? message);
        if (!parsed.IsOk || message is null)
        {
            Interlocked.Increment(ref _errors);
            return NtsKeResponse.EncodeError(parsed.ServerError ?? NtsKeErrorCode.BadRequest);
        }

        if (!message.NextProtocols.Contains(NtsKe.ProtocolNtpv4))
        {
            // No protocol in common: an empty Next Protocol record (§4.1.2).
            Interlocked.Increment(ref _errors);
            return new NtsKeResponse().Encode();
        }

        ushort? aead = message.AeadAlgorithms.Cast<ushort?>().FirstOrDefault(a => NtsAead.IsSupported(a!.Value));
        if (aead is not ushort chosen)
        {
            Interlocked.Increment(ref _errors);
            return new NtsKeResponse { NextProtocols = [NtsKe.ProtocolNtpv4] }.Encode();
        }

        int keyLength = NtsAead.KeyLength(chosen)!.Value;
        byte[] c2s = export(NtsKe.ProtocolNtpv4, chosen, false, keyLength);
        byte[] s2c = export(NtsKe.ProtocolNtpv4, chosen, true, keyLength);
        try
        {
            var cookies = new byte[CookiesPerResponse][];
            int cookieLength = ServerCookieKeys.CookieLength(chosen)!.Value;
            for (int i = 0; i < cookies.Length; i++)
            {
                cookies[i] = new byte[cookieLength];
                cookieKeys.Seal(chosen, c2s, s2c, cookies[i]);
            }

            Interlocked.Increment(ref _responses);
            return new NtsKeResponse
            {
                NextProtocols = [NtsKe.ProtocolNtpv4],
                AeadAlgorithm = chosen,
                Cookies = cookies,
                Server = ntpServer,
                Port = ntpPort,
            }.Encode();
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(c2s);
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(s2c);
        }
    }
}
