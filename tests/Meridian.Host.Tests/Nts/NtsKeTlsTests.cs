using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Meridian.Host.Nts;

namespace Meridian.Host.Tests.Nts;

/// <summary>Loopback NTS-KE TLS: our client against our server, and openssl s_client against our server.</summary>
public sealed class NtsKeTlsTests(NtsKeCertificates pki) : IClassFixture<NtsKeCertificates>
{
    private static readonly (ushort Aead, int Length)[] Aeads =
        [(NtsKeTls.AeadAesSivCmac256, 32), (NtsKeTls.AeadAes128GcmSiv, 16)];

    /// <summary>A request here is one length octet then that many octets; the server echoes it.</summary>
    private static bool Complete(ReadOnlySpan<byte> received) => received.Length >= 1 && received.Length >= 1 + received[0];

    private static byte[] Request(params byte[] body) => [(byte)body.Length, .. body];

    private NtsKeServer StartServer(string name, NtsKeRequestHandler? handler = null, int max = 64,
        TimeSpan? limit = null, int maxRequest = 16 * 1024, string? certFile = null, string? keyFile = null, bool withV6 = false)
    {
        List<IPEndPoint> endpoints = [new IPEndPoint(IPAddress.Loopback, 0)];
        if (withV6)
            endpoints.Add(new IPEndPoint(IPAddress.IPv6Loopback, 0));
        var server = new NtsKeServer(
            new NtsKeServerOptions
            {
                CertificateFile = certFile ?? pki.CertFile(name),
                PrivateKeyFile = keyFile ?? pki.KeyFile(name),
                Endpoints = endpoints,
                MaxConcurrentConnections = max,
                ConnectionTimeLimit = limit ?? TimeSpan.FromSeconds(10),
                MaxRequestBytes = maxRequest,
            },
            handler ?? ((received, _) => Complete(received) ? NtsKeReply.Respond(received.ToArray()) : NtsKeReply.NeedMore));
        server.Start();
        return server;
    }

    private NtsKeClientOptions ClientOptions(bool skipDateCheck = false, IReadOnlyList<string>? alpn = null) => new()
    {
        CaFile = pki.CaFile,
        SkipDateCheck = skipDateCheck,
        Timeout = TimeSpan.FromSeconds(10),
        OfferedProtocols = alpn ?? [NtsKeTls.ApplicationProtocol],
    };

    private static void WaitFor(Func<bool> condition, int milliseconds = 10_000)
    {
        var clock = Stopwatch.StartNew();
        while (!condition() && clock.ElapsedMilliseconds < milliseconds)
            Thread.Sleep(20);
        Assert.True(condition(), "condition not reached in time");
    }

    private static NtsKeClientFailure FailureOf(Action action) => Assert.Throws<NtsKeClientException>(action).Failure;

    [Theory]
    [InlineData("rsa")]
    [InlineData("ec")]
    public void Handshake_exports_the_same_keys_on_both_sides_and_the_handler_echoes(string name)
    {
        var serverKeys = new ConcurrentDictionary<(ushort, bool), byte[]>();
        string? serverAlpn = null;
        using NtsKeServer server = StartServer(name, (received, session) =>
        {
            if (!Complete(received))
                return NtsKeReply.NeedMore;
            serverAlpn = session.ApplicationProtocol;
            foreach ((ushort aead, int length) in Aeads)
            {
                serverKeys[(aead, false)] = session.ExportKey(NtsKeTls.ProtocolNtpV4, aead, false, length);
                serverKeys[(aead, true)] = session.ExportKey(NtsKeTls.ProtocolNtpV4, aead, true, length);
            }

            return NtsKeReply.Respond(received.ToArray());
        });

        using NtsKeClientConnection client = NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", ClientOptions());
        byte[] request = Request(1, 2, 3, 4, 5);
        byte[] response = client.Exchange(request, Complete);

        Assert.Equal(request, response);
        Assert.Equal("ntske/1", serverAlpn);
        Assert.Equal("ntske/1", client.Session.ApplicationProtocol);
        foreach ((ushort aead, int length) in Aeads)
        {
            byte[] c2s = client.Session.ExportKey(NtsKeTls.ProtocolNtpV4, aead, false, length);
            byte[] s2c = client.Session.ExportKey(NtsKeTls.ProtocolNtpV4, aead, true, length);
            Assert.Equal(length, c2s.Length);
            Assert.Equal(serverKeys[(aead, false)], c2s);
            Assert.Equal(serverKeys[(aead, true)], s2c);
            Assert.NotEqual(c2s, s2c);
            Assert.Equal(NtsKeTls.AeadKeyLength(aead), length);
        }

        Assert.NotEqual(serverKeys[(NtsKeTls.AeadAesSivCmac256, false)].AsSpan(0, 16).ToArray(), serverKeys[(NtsKeTls.AeadAes128GcmSiv, false)]);
        WaitFor(() => server.Counters.Responses == 1);
        NtsKeServerCounters counters = server.Counters;
        Assert.Equal(1, counters.HandshakesOk);
        Assert.Equal(0, counters.HandshakesFailed);
        Assert.Equal(request.Length, counters.BytesReceived);
        Assert.Equal(request.Length, counters.BytesSent);
    }

    [Fact]
    public void Request_arriving_in_pieces_is_handed_over_until_complete_and_an_address_is_checked_against_the_ip_san()
    {
        var calls = new ConcurrentQueue<int>();
        using NtsKeServer server = StartServer("ec", (received, _) =>
        {
            calls.Enqueue(received.Length);
            return Complete(received) ? NtsKeReply.Respond([42]) : NtsKeReply.NeedMore;
        });

        using NtsKeClientConnection client = NtsKeClient.Connect("127.0.0.1", server.LocalEndPoints[0].Port, ClientOptions());
        client.Send([3, 1]);
        WaitFor(() => !calls.IsEmpty);
        client.Send([2, 3]);
        Assert.Equal(new byte[] { 42 }, client.Receive(r => r.Length >= 1));
        Assert.Equal([2, 4], calls.ToArray());
    }

    [Fact]
    public void Server_listens_on_ipv6_too()
    {
        using NtsKeServer server = StartServer("ec", withV6: true);
        IPEndPoint v6 = server.LocalEndPoints.Single(e => e.AddressFamily == AddressFamily.InterNetworkV6);
        using NtsKeClientConnection client = NtsKeClient.Connect(v6, "ntp.test", ClientOptions());
        Assert.Equal(Request(9), client.Exchange(Request(9), Complete));
    }

    [Fact]
    public void Certificate_for_another_name_is_rejected()
    {
        using NtsKeServer server = StartServer("other");
        var e = Assert.Throws<NtsKeClientException>(() => NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", ClientOptions()));
        Assert.Equal(NtsKeClientFailure.NameMismatch, e.Failure);
        Assert.Contains("other.test", e.Message, StringComparison.Ordinal);
        WaitFor(() => server.Counters.HandshakesFailed == 1); // PeerAlert, or ConnectionError if the close beat the alert
        Assert.Equal(0, server.Counters.HandshakesOk);
    }

    [Fact]
    public void Address_not_in_the_ip_san_is_rejected()
    {
        using NtsKeServer server = StartServer("other");
        Assert.Equal(NtsKeClientFailure.NameMismatch, FailureOf(() => NtsKeClient.Connect("127.0.0.1", server.LocalEndPoints[0].Port, ClientOptions())));
    }

    [Fact]
    public void Self_signed_certificate_is_an_unknown_ca()
    {
        using NtsKeServer server = StartServer("self");
        Assert.Equal(NtsKeClientFailure.UnknownCa, FailureOf(() => NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", ClientOptions())));
    }

    [Fact]
    public void System_trust_store_does_not_trust_our_test_ca()
    {
        using NtsKeServer server = StartServer("ec");
        if (!File.Exists(NtsKeClientOptions.SystemTrustStore))
            return;
        var options = new NtsKeClientOptions { Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal(NtsKeClientFailure.UnknownCa, FailureOf(() => NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", options)));
    }

    [Fact]
    public void Expired_certificate_is_rejected_unless_dates_are_not_checked()
    {
        using NtsKeServer server = StartServer("expired");
        var e = Assert.Throws<NtsKeClientException>(() => NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", ClientOptions()));
        Assert.Equal(NtsKeClientFailure.Expired, e.Failure);
        Assert.Contains("expired", e.Message, StringComparison.Ordinal);

        using NtsKeClientConnection client = NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", ClientOptions(skipDateCheck: true));
        Assert.Equal(Request(7), client.Exchange(Request(7), Complete));
    }

    [Fact]
    public void A_certificate_let_through_outside_its_dates_is_said_so_and_a_good_one_is_not()
    {
        using NtsKeServer expired = StartServer("expired");
        using (NtsKeClientConnection client = NtsKeClient.Connect(expired.LocalEndPoints[0], "ntp.test", ClientOptions(skipDateCheck: true)))
        {
            (NtsKeClientFailure failure, string message) = Assert.NotNull(client.Waived);
            Assert.Equal(NtsKeClientFailure.Expired, failure);
            Assert.Contains("\"CN=ntp.test expired\" expired", message, StringComparison.Ordinal);
        }

        using NtsKeServer good = StartServer("ec");
        using NtsKeClientConnection checkedClient = NtsKeClient.Connect(good.LocalEndPoints[0], "ntp.test", ClientOptions(skipDateCheck: true));
        Assert.Null(checkedClient.Waived);
    }

    [Theory]
    [InlineData("other", "ntp.test", NtsKeClientFailure.NameMismatch)]
    [InlineData("self", "ntp.test", NtsKeClientFailure.UnknownCa)]
    [InlineData("expired", "ntp.test", NtsKeClientFailure.Expired)]
    public void Without_validation_any_certificate_is_accepted_and_what_was_waived_is_told(string name, string asked, NtsKeClientFailure waived)
    {
        using NtsKeServer server = StartServer(name);
        Assert.Equal(waived, FailureOf(() => NtsKeClient.Connect(server.LocalEndPoints[0], asked, ClientOptions())));
        var options = new NtsKeClientOptions { CaFile = pki.CaFile, SkipVerification = true, Timeout = TimeSpan.FromSeconds(10) };
        using NtsKeClientConnection client = NtsKeClient.Connect(server.LocalEndPoints[0], asked, options);
        Assert.Equal(waived, Assert.NotNull(client.Waived).Failure);
        Assert.Equal(Request(9), client.Exchange(Request(9), Complete));
    }

    [Fact]
    public void Without_validation_an_unreadable_trust_store_is_no_reason_to_refuse()
    {
        using NtsKeServer server = StartServer("ec");
        var options = new NtsKeClientOptions { CaFile = Path.Combine(pki.Directory, "missing.pem"), SkipVerification = true, Timeout = TimeSpan.FromSeconds(10) };
        using NtsKeClientConnection client = NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", options);
        Assert.Equal(NtsKeClientFailure.UnknownCa, Assert.NotNull(client.Waived).Failure);
    }

    [Fact]
    public void Certificate_not_yet_valid_is_rejected_unless_dates_are_not_checked()
    {
        using NtsKeServer server = StartServer("future");
        Assert.Equal(NtsKeClientFailure.NotYetValid, FailureOf(() => NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", ClientOptions())));
        using NtsKeClientConnection client = NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", ClientOptions(skipDateCheck: true));
    }

    [Theory]
    [InlineData("a.pool.test", true)]
    [InlineData("A.Pool.Test.", true)]
    [InlineData("pool.test", false)]
    [InlineData("a.b.pool.test", false)]
    [InlineData("127.0.0.1", false)]
    public void Wildcard_stands_for_one_left_most_label(string name, bool matches)
    {
        var leaf = new Org.BouncyCastle.X509.X509CertificateParser().ReadCertificate(File.ReadAllBytes(pki.CertFile("wild")));
        Assert.Equal(matches, NtsKeCertificateVerifier.NameMatches(leaf, name));
    }

    [Fact]
    public void Unreadable_ca_file_is_reported_as_such()
    {
        NtsKeClientOptions options = new() { CaFile = Path.Combine(pki.Directory, "missing.pem") };
        Assert.Equal(NtsKeClientFailure.TrustStoreUnreadable, FailureOf(() => NtsKeClient.Connect("127.0.0.1", 1, options)));
    }

    [Theory]
    [InlineData("foo")]
    [InlineData(null)]
    public void Client_without_ntske_alpn_is_refused_with_no_application_protocol(string? alpn)
    {
        using NtsKeServer server = StartServer("ec");
        NtsKeClientOptions options = ClientOptions(alpn: alpn is null ? [] : [alpn]);
        Assert.Equal(NtsKeClientFailure.NoApplicationProtocol, FailureOf(() => NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", options)));
        WaitFor(() => server.Counters.Failed(NtsKeServerFailure.NoApplicationProtocol) == 1);
        Assert.Equal(0, server.Counters.HandshakesOk);
    }

    [Fact]
    public void Server_that_never_answers_the_handshake_is_a_timeout()
    {
        using var mute = new TcpListener(IPAddress.Loopback, 0);
        mute.Start(); // the kernel completes the TCP handshake; nobody speaks TLS
        var options = new NtsKeClientOptions { CaFile = pki.CaFile, Timeout = TimeSpan.FromMilliseconds(500) };
        var clock = Stopwatch.StartNew();
        Assert.Equal(NtsKeClientFailure.Timeout, FailureOf(() => NtsKeClient.Connect("127.0.0.1", ((IPEndPoint)mute.LocalEndpoint).Port, options)));
        Assert.InRange(clock.ElapsedMilliseconds, 300, 8000);
    }

    [Fact]
    public void Keys_not_exported_at_the_handshake_cannot_be_asked_for_later()
    {
        using NtsKeServer server = StartServer("ec");
        using NtsKeClientConnection client = NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", ClientOptions());
        Assert.Throws<InvalidOperationException>(() => client.Session.ExportKey(NtsKeTls.ProtocolNtpV4, 99, false, 16));
        Assert.Throws<InvalidOperationException>(() => client.Session.ExportKey(NtsKeTls.ProtocolNtpV4, NtsKeTls.AeadAesSivCmac256, false, 16));
        Assert.Equal(48, client.Session.ExportKey(NtsKeTls.ProtocolNtpV4, NtsKeTls.AeadAesSivCmac384, true, 48).Length);
    }

    [Fact]
    public void Nothing_listening_is_connection_refused()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        Assert.Equal(NtsKeClientFailure.ConnectionRefused, FailureOf(() => NtsKeClient.Connect("127.0.0.1", port, ClientOptions())));
    }

    [Fact]
    public void Silent_client_is_cut_off_at_the_time_limit_and_counted()
    {
        using NtsKeServer server = StartServer("ec", limit: TimeSpan.FromMilliseconds(500));
        using var silent = new TcpClient();
        silent.Connect(server.LocalEndPoints[0]);
        silent.ReceiveTimeout = 10_000;
        var clock = Stopwatch.StartNew();
        int n;
        try
        {
            n = silent.GetStream().Read(new byte[16]);
        }
        catch (IOException)
        {
            n = 0;
        }

        Assert.Equal(0, n);
        Assert.InRange(clock.ElapsedMilliseconds, 300, 8000);
        WaitFor(() => server.Counters.TimedOut == 1);
        Assert.Equal(0, server.ConnectionsInFlight);
    }

    [Fact]
    public void Slow_client_after_the_handshake_is_cut_off_too()
    {
        using NtsKeServer server = StartServer("ec", limit: TimeSpan.FromMilliseconds(1500));
        using NtsKeClientConnection client = NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", ClientOptions());
        client.Send([5, 1]); // promises 5 octets, sends 1
        // Closed, or reset when the server's kernel still held unread octets.
        Assert.Contains(FailureOf(() => client.Receive(Complete)), (NtsKeClientFailure[])[NtsKeClientFailure.ConnectionClosed, NtsKeClientFailure.ConnectionFailed]);
        WaitFor(() => server.Counters.TimedOut == 1);
        Assert.Equal(1, server.Counters.HandshakesOk);
    }

    [Fact]
    public void Connections_beyond_the_bound_are_closed_at_once_and_counted()
    {
        using NtsKeServer server = StartServer("ec", max: 2, limit: TimeSpan.FromSeconds(6));
        using var first = new TcpClient();
        using var second = new TcpClient();
        first.Connect(server.LocalEndPoints[0]);
        second.Connect(server.LocalEndPoints[0]);
        WaitFor(() => server.ConnectionsInFlight == 2);

        using var third = new TcpClient();
        third.Connect(server.LocalEndPoints[0]);
        third.ReceiveTimeout = 5000;
        var clock = Stopwatch.StartNew();
        int n;
        try
        {
            n = third.GetStream().Read(new byte[16]);
        }
        catch (IOException)
        {
            n = 0;
        }

        Assert.Equal(0, n);
        Assert.True(clock.ElapsedMilliseconds < 4000, "the refused connection should close before the time limit");
        WaitFor(() => server.Counters.RefusedBusy == 1);
        Assert.Equal(2, server.ConnectionsInFlight);
    }

    [Fact]
    public void Request_over_the_size_limit_is_dropped_and_counted()
    {
        using NtsKeServer server = StartServer("ec", maxRequest: 64, handler: (_, _) => NtsKeReply.NeedMore);
        using NtsKeClientConnection client = NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", ClientOptions());
        client.Send(new byte[100]);
        Assert.Contains(FailureOf(() => client.Receive(Complete)), (NtsKeClientFailure[])[NtsKeClientFailure.ConnectionClosed, NtsKeClientFailure.ConnectionFailed]);
        WaitFor(() => server.Counters.Failed(NtsKeServerFailure.RequestTooLarge) == 1);
    }

    [Fact]
    public void Reload_with_a_broken_pem_keeps_the_old_certificate_and_says_why()
    {
        string certFile = Path.Combine(pki.Directory, "reload.pem");
        string keyFile = Path.Combine(pki.Directory, "reload.key");
        File.Copy(pki.CertFile("rsa"), certFile, overwrite: true);
        File.Copy(pki.KeyFile("rsa"), keyFile, overwrite: true);
        using NtsKeServer server = StartServer("rsa", certFile: certFile, keyFile: keyFile);
        string before = server.CertificateSubject;
        Assert.Contains("RSA", before, StringComparison.Ordinal);

        File.Copy(pki.BrokenFile, certFile, overwrite: true);
        string? error = server.Reload();
        Assert.NotNull(error);
        Assert.Equal(before, server.CertificateSubject);
        using (NtsKeClientConnection client = NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", ClientOptions()))
            Assert.Equal(Request(1), client.Exchange(Request(1), Complete));

        File.Copy(pki.CertFile("ec"), certFile, overwrite: true); // EC certificate, RSA key: a mismatched pair
        error = server.Reload();
        Assert.NotNull(error);
        Assert.Contains("does not belong", error, StringComparison.Ordinal);
        Assert.Equal(before, server.CertificateSubject);

        File.Copy(pki.KeyFile("ec"), keyFile, overwrite: true);
        Assert.Null(server.Reload());
        Assert.Contains("EC", server.CertificateSubject, StringComparison.Ordinal);
        using (NtsKeClientConnection client = NtsKeClient.Connect(server.LocalEndPoints[0], "ntp.test", ClientOptions()))
            Assert.Equal(Request(2), client.Exchange(Request(2), Complete));
    }

    [Fact]
    public void Server_refuses_to_start_with_a_broken_certificate()
    {
        Assert.Throws<InvalidDataException>(() => new NtsKeServer(
            new NtsKeServerOptions { CertificateFile = pki.BrokenFile, PrivateKeyFile = pki.KeyFile("ec") },
            (_, _) => NtsKeReply.Close));
    }

    private static (int ExitCode, string Output)? OpenSsl(params string[] arguments)
    {
        var start = new ProcessStartInfo("openssl")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // no openssl on this machine
        }

        using (process)
        {
            process.StandardInput.Close();
            Task<string> output = process.StandardOutput.ReadToEndAsync();
            Task<string> error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(20_000))
            {
                process.Kill();
                process.WaitForExit(5000);
            }

            return (process.ExitCode, output.Result + error.Result);
        }
    }

    [Fact]
    public void Openssl_s_client_completes_a_tls13_ntske_handshake()
    {
        using NtsKeServer server = StartServer("ec");
        var result = OpenSsl("s_client", "-connect", $"127.0.0.1:{server.LocalEndPoints[0].Port}", "-alpn", "ntske/1",
            "-tls1_3", "-CAfile", pki.CaFile, "-verify_return_error", "-verify_ip", "127.0.0.1", "-servername", "ntp.test");
        if (result is null)
            return;
        Assert.Contains("ALPN protocol: ntske/1", result.Value.Output, StringComparison.Ordinal);
        Assert.Contains("TLSv1.3", result.Value.Output, StringComparison.Ordinal);
        Assert.Contains("Verify return code: 0 (ok)", result.Value.Output, StringComparison.Ordinal);
        WaitFor(() => server.Counters.HandshakesOk == 1);
    }

    [Fact]
    public void Openssl_s_client_with_another_alpn_is_refused()
    {
        using NtsKeServer server = StartServer("rsa");
        var result = OpenSsl("s_client", "-connect", $"127.0.0.1:{server.LocalEndPoints[0].Port}", "-alpn", "foo", "-CAfile", pki.CaFile);
        if (result is null)
            return;
        Assert.Contains("no application protocol", result.Value.Output, StringComparison.OrdinalIgnoreCase);
        WaitFor(() => server.Counters.Failed(NtsKeServerFailure.NoApplicationProtocol) == 1);
        Assert.Equal(0, server.Counters.HandshakesOk);
    }

    [Fact]
    public void Openssl_s_client_limited_to_tls12_is_refused()
    {
        using NtsKeServer server = StartServer("rsa");
        var result = OpenSsl("s_client", "-connect", $"127.0.0.1:{server.LocalEndPoints[0].Port}", "-alpn", "ntske/1", "-tls1_2", "-CAfile", pki.CaFile);
        if (result is null)
            return;
        Assert.NotEqual(0, result.Value.ExitCode);
        WaitFor(() => server.Counters.Failed(NtsKeServerFailure.ProtocolVersion) == 1);
        Assert.Equal(0, server.Counters.HandshakesOk);
    }
}
