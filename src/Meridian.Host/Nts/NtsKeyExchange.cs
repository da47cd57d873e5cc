using System.Net;
using System.Security.Cryptography;
using Meridian.Engine.Nts;
using Meridian.Protocol.Nts;

namespace Meridian.Host.Nts;

/// <summary>
/// What one NTS-KE exchange gave: the client state, the NTP server when NTS-KE named another, a summary for logs, and
/// the certificate failure that <c>noval</c> or <c>nocerttimecheck</c> let through, for the warning.
/// </summary>
public sealed record NtsKeyExchangeResult(NtsClientState State, IPEndPoint? NtpServer, string Summary, (NtsKeClientFailure Failure, string Message)? Waived = null);

/// <summary>
/// The client's whole NTS-KE (RFC 8915 §4), for the daemon's <c>server ... nts</c> and for ntpdig: TLS 1.3 to port
/// 4460 with the certificate checked for the name asked, NTPv4 with the AEADs offered best first, then the C2S and
/// S2C keys from the TLS exporter (§5.1) and the cookies. Blocking: run it off any event loop.
/// </summary>
public static class NtsKeyExchange
{
    /// <summary>
    /// Runs the exchange with <paramref name="host"/> at <paramref name="address"/>. Every failure throws one of the
    /// exceptions <see cref="Reason"/> describes.
    /// </summary>
    public static NtsKeyExchangeResult Run(string host, IPAddress address, NtsKeClientOptions options, IReadOnlyList<ushort> preference, int port = NtsKeTls.DefaultPort)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(options);
        var request = new NtsKeRequest { AeadAlgorithms = [.. preference] };
        using NtsKeClientConnection connection = NtsKeClient.Connect(new IPEndPoint(address, port), host, options);
        byte[] octets = connection.Exchange(request.Encode(), r => NtsKeRecordReader.Frame(r, NtsKeLimits.Response.MaxMessageLength, out _) != NtsKeFrameStatus.Incomplete);
        NtsKeParseResult parsed = NtsKeResponse.TryParse(octets, out NtsKeResponse? response);
        if (!parsed.IsOk || response is null)
        {
            throw new InvalidDataException($"the NTS-KE response is malformed ({parsed.Problem})");
        }

        if (response.Error is { } error)
        {
            throw new InvalidDataException($"the server answered with the error {error}");
        }

        if (!response.IsUsableForNtpv4 || !response.IsConsistentWith(request))
        {
            throw new InvalidDataException("the server offered no NTPv4 with an AEAD we support, or no cookie");
        }

        ushort aead = response.AeadAlgorithm!.Value;
        int length = NtsAead.KeyLength(aead)!.Value;
        byte[] c2s = connection.Session.ExportKey(NtsKe.ProtocolNtpv4, aead, false, length);
        byte[] s2c = connection.Session.ExportKey(NtsKe.ProtocolNtpv4, aead, true, length);
        NtsClientState state = NtsClientState.FromKeyExchange(response, c2s, s2c);
        CryptographicOperations.ZeroMemory(c2s);
        CryptographicOperations.ZeroMemory(s2c);
        IPEndPoint? server = null;
        if (response.Server is not null || response.Port is not null)
        {
            try
            {
                IPAddress ntp = response.Server is null ? address
                    : IPAddress.TryParse(response.Server, out IPAddress? literal) ? literal
                    : Dns.GetHostAddresses(response.Server).FirstOrDefault() ?? throw new InvalidDataException($"the NTP server {response.Server} it named does not resolve");
                server = new IPEndPoint(ntp, response.Port ?? NtsClientState.DefaultNtpPort);
            }
            catch
            {
                state.Dispose();
                throw;
            }
        }

        return new NtsKeyExchangeResult(state, server, $"AEAD {aead}, {response.Cookies.Count} cookies{(server is null ? string.Empty : $", NTP at {server}")}", connection.Waived);
    }

    /// <summary>
    /// Whether <paramref name="e"/> is a failure of the exchange (rather than a bug), and in what words to report it:
    /// <c>NameMismatch: certificate ... is not for other.test</c>, the failure named once.
    /// </summary>
    public static string? Reason(Exception e) => e switch
    {
        NtsKeClientException ke => $"{ke.Failure}: {ke.Detail}",
        IOException or InvalidDataException or System.Net.Sockets.SocketException => e.Message,
        _ => null,
    };
}
