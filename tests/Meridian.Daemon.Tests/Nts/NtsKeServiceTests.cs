using System.Net;
using Meridian.Engine;
using Meridian.Engine.Nts;
using Meridian.Host.Nts;
using Meridian.Host.Tests.Nts;
using Meridian.Protocol.Nts;

namespace Meridian.Daemon.Tests.Nts;

/// <summary>The NTS-KE service behind our TLS server, asked by our TLS client over loopback (RFC 8915 §4).</summary>
public sealed class NtsKeServiceTests(NtsKeCertificates pki) : IClassFixture<NtsKeCertificates>, IDisposable
{
    private readonly ServerCookieKeys _keys = new(CryptoRandomSource.Instance, DateTime.UtcNow);

    public void Dispose() => _keys.Dispose();

    /// <summary>One exchange; the keys are the client's own exports for the AEAD the server chose (none if it chose none).</summary>
    private static (NtsKeResponse Response, byte[]? C2S, byte[]? S2C) Exchange(NtsKeCertificates pki, NtsKeService service, byte[] request)
    {
        using var server = new NtsKeServer(
            new NtsKeServerOptions { CertificateFile = pki.CertFile("ec"), PrivateKeyFile = pki.KeyFile("ec"), Endpoints = [new IPEndPoint(IPAddress.Loopback, 0)] },
            service.Handle);
        server.Start();
        using NtsKeClientConnection client = NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", new NtsKeClientOptions { CaFile = pki.CaFile, Timeout = TimeSpan.FromSeconds(10) });
        byte[] octets = client.Exchange(request, r => NtsKeRecordReader.Frame(r, NtsKeLimits.Response.MaxMessageLength, out _) != NtsKeFrameStatus.Incomplete);
        Assert.True(NtsKeResponse.TryParse(octets, out NtsKeResponse? response).IsOk);
        if (response!.AeadAlgorithm is not ushort aead)
        {
            return (response, null, null);
        }

        int length = NtsAead.KeyLength(aead)!.Value;
        return (response, client.Session.ExportKey(NtsKe.ProtocolNtpv4, aead, false, length), client.Session.ExportKey(NtsKe.ProtocolNtpv4, aead, true, length));
    }

    [Theory]
    [InlineData(new ushort[] { 15, 30 }, 15, 32)]
    [InlineData(new ushort[] { 30, 15 }, 30, 16)]
    [InlineData(new ushort[] { 16, 30 }, 30, 16)]
    public void The_client_gets_its_first_supported_AEAD_and_eight_cookies_holding_the_keys_it_exported(ushort[] offered, ushort chosen, int keyLength)
    {
        var service = new NtsKeService(_keys);
        var request = new NtsKeRequest { AeadAlgorithms = offered };

        (NtsKeResponse response, byte[]? c2s, byte[]? s2c) = Exchange(pki, service, request.Encode());

        Assert.True(response.IsUsableForNtpv4 && response.IsConsistentWith(request));
        Assert.Equal(chosen, response.AeadAlgorithm);
        Assert.Equal(8, response.Cookies.Count);
        Assert.Equal(8, response.Cookies.Select(Convert.ToHexString).Distinct().Count());
        Assert.Equal((keyLength, keyLength), (c2s!.Length, s2c!.Length));
        Assert.All(response.Cookies, cookie =>
        {
            Assert.Equal(CookieStatus.Opened, _keys.Open(cookie, out NtsCookie? contents));
            Assert.Equal((chosen, Convert.ToHexString(c2s), Convert.ToHexString(s2c)), (contents!.AeadId, Convert.ToHexString(contents.C2SKey), Convert.ToHexString(contents.S2CKey)));
        });
        Assert.Equal((1, 0), (service.Responses, service.Refused));
        Assert.Null(response.Server);
    }

    [Fact]
    public void A_fleet_host_names_the_NTP_server_and_port_its_cookies_are_for()
    {
        (NtsKeResponse response, _, _) = Exchange(pki, new NtsKeService(_keys, "time1.example.net", 10123), new NtsKeRequest().Encode());
        Assert.Equal(("time1.example.net", (ushort?)10123), (response.Server, response.Port));
    }

    [Fact]
    public void No_protocol_or_no_AEAD_in_common_gets_empty_records_and_a_malformed_request_an_error()
    {
        var service = new NtsKeService(_keys);
        (NtsKeResponse noAead, _, _) = Exchange(pki, service, new NtsKeRequest { AeadAlgorithms = [17] }.Encode());
        Assert.Equal([NtsKe.ProtocolNtpv4], noAead.NextProtocols);
        Assert.Equal(((ushort?)null, 0), (noAead.AeadAlgorithm, noAead.Cookies.Count));

        (NtsKeResponse noProtocol, _, _) = Exchange(pki, service, new NtsKeRequest { NextProtocols = [0x8001] }.Encode());
        Assert.Empty(noProtocol.NextProtocols);
        Assert.False(noProtocol.IsUsableForNtpv4);

        // A critical record of a type nobody knows, then End of Message: "unrecognized critical record" (§4.1.3).
        byte[] unknown = [.. new NtsKeRequest().Encode()[..^4], 0xC0, 0x42, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00];
        (NtsKeResponse error, _, _) = Exchange(pki, service, unknown);
        Assert.Equal(NtsKeErrorCode.UnrecognizedCriticalRecord, error.Error);
        Assert.Equal((0, 3), (service.Responses, service.Refused));
    }
}
