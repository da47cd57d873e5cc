using System.Net;
using System.Net.Sockets;
using System.Text;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using X509Certificate = Org.BouncyCastle.X509.X509Certificate;

namespace Meridian.Host.Nts;

/// <summary>Why an NTS-KE client connection failed, for logs a person can act on.</summary>
public enum NtsKeClientFailure
{
    /// <summary>The name did not resolve.</summary>
    ResolveFailed,

    /// <summary>Nothing listens there (TCP RST).</summary>
    ConnectionRefused,

    /// <summary>Another TCP error (unreachable, reset mid-exchange).</summary>
    ConnectionFailed,

    /// <summary>The connection, handshake or exchange took longer than the timeout.</summary>
    Timeout,

    /// <summary>The CA file or system trust store could not be read or held no certificate.</summary>
    TrustStoreUnreadable,

    /// <summary>The chain does not lead to a trusted CA.</summary>
    UnknownCa,

    /// <summary>The certificate is for another name or address.</summary>
    NameMismatch,

    /// <summary>A certificate in the chain is past its notAfter.</summary>
    Expired,

    /// <summary>A certificate in the chain is before its notBefore (or our clock is behind).</summary>
    NotYetValid,

    /// <summary>The certificate is unusable otherwise (no certificate, wrong extended key usage).</summary>
    BadCertificate,

    /// <summary>The server did not negotiate ALPN ntske/1 (RFC 8915 §4).</summary>
    NoApplicationProtocol,

    /// <summary>The server does not do TLS 1.3.</summary>
    ProtocolVersion,

    /// <summary>Another TLS failure.</summary>
    HandshakeFailed,

    /// <summary>The response grew past the limit without being complete.</summary>
    ResponseTooLarge,

    /// <summary>The server closed before the response was complete.</summary>
    ConnectionClosed,
}

/// <summary>An NTS-KE client failure with its reason.</summary>
public sealed class NtsKeClientException : Exception
{
    public NtsKeClientException(NtsKeClientFailure failure, string message, Exception? inner = null)
        : base($"NTS-KE {failure}: {message}", inner)
    {
        Failure = failure;
        Detail = message;
    }

    public NtsKeClientFailure Failure { get; }

    /// <summary>The reason without the failure's name, for a log line that names it already.</summary>
    public string Detail { get; }
}

/// <summary>Tells whether the bytes received so far are a complete response (the record layer knows, we do not).</summary>
public delegate bool NtsKeResponseComplete(ReadOnlySpan<byte> received);

/// <summary>How the client trusts and bounds a connection.</summary>
public sealed class NtsKeClientOptions
{
    /// <summary>The system bundle used when <see cref="CaFile"/> is null.</summary>
    public const string SystemTrustStore = "/etc/ssl/certs/ca-certificates.crt";

    /// <summary>PEM bundle of trusted CAs; null trusts the system store.</summary>
    public string? CaFile { get; init; }

    /// <summary>Accept certificates outside their validity dates (chrony's nocerttimecheck), for a clock not yet set.</summary>
    public bool SkipDateCheck { get; init; }

    /// <summary>
    /// Accept any certificate for any name (NTPsec's <c>noval</c>): the exchange is encrypted but the server is not
    /// authenticated, so anyone on the path can pose as it. What the check would have refused is in
    /// <see cref="NtsKeClientConnection.Waived"/>.
    /// </summary>
    public bool SkipVerification { get; init; }

    /// <summary>The budget of the whole connection: connect, handshake, request and response.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A response longer than this is refused.</summary>
    public int MaxResponseBytes { get; init; } = 64 * 1024;

    /// <summary>Keys exported at the handshake (BouncyCastle allows the exporter only then).</summary>
    public IReadOnlyList<NtsKeKeySpec> KeySpecs { get; init; } = NtsKeTls.DefaultKeySpecs;

    /// <summary>ALPN names offered; only tests change it, to play a client RFC 8915 forbids.</summary>
    internal IReadOnlyList<string> OfferedProtocols { get; init; } = [NtsKeTls.ApplicationProtocol];
}

/// <summary>Opens NTS-KE TLS 1.3 connections (RFC 8915 §4) with verified server certificates.</summary>
public static class NtsKeClient
{
    /// <summary>Resolves <paramref name="host"/>, connects, verifies the certificate for that name or address.</summary>
    /// <exception cref="NtsKeClientException">With the reason.</exception>
    public static NtsKeClientConnection Connect(string host, int port, NtsKeClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        DateTime start = DateTime.UtcNow;
        IPAddress[] addresses;
        if (IPAddress.TryParse(host, out IPAddress? literal))
        {
            addresses = [literal];
        }
        else
        {
            using var cts = new CancellationTokenSource(options.Timeout);
            try
            {
                addresses = Dns.GetHostAddressesAsync(host, cts.Token).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                throw new NtsKeClientException(NtsKeClientFailure.Timeout, $"resolving {host} took over {options.Timeout.TotalSeconds:0.#} s");
            }
            catch (SocketException e)
            {
                throw new NtsKeClientException(NtsKeClientFailure.ResolveFailed, $"{host}: {e.Message}", e);
            }

            if (addresses.Length == 0)
                throw new NtsKeClientException(NtsKeClientFailure.ResolveFailed, $"{host}: no address");
        }

        NtsKeClientException? last = null;
        foreach (IPAddress address in addresses.Take(8))
        {
            TimeSpan left = options.Timeout - (DateTime.UtcNow - start);
            if (left <= TimeSpan.Zero)
                break;
            try
            {
                return Connect(new IPEndPoint(address, port), host, options, left);
            }
            catch (NtsKeClientException e) when (e.Failure is NtsKeClientFailure.ConnectionRefused or NtsKeClientFailure.ConnectionFailed)
            {
                last = e; // try the next address
            }
        }

        throw last ?? new NtsKeClientException(NtsKeClientFailure.Timeout, $"{host}: no address answered in time");
    }

    /// <summary>Connects to <paramref name="endpoint"/> and verifies the certificate for <paramref name="serverName"/>.</summary>
    /// <exception cref="NtsKeClientException">With the reason.</exception>
    public static NtsKeClientConnection Connect(IPEndPoint endpoint, string serverName, NtsKeClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Connect(endpoint, serverName, options, options.Timeout);
    }

    private static NtsKeClientConnection Connect(IPEndPoint endpoint, string serverName, NtsKeClientOptions options, TimeSpan budget)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(serverName);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.Timeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxResponseBytes);
        IReadOnlyList<X509Certificate> anchors = LoadAnchors(options.CaFile ?? NtsKeClientOptions.SystemTrustStore, options.SkipVerification);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var connection = new NtsKeClientConnection(socket, options, budget);
        try
        {
            using (var cts = new CancellationTokenSource(budget))
            {
                try
                {
                    socket.ConnectAsync(endpoint, cts.Token).AsTask().GetAwaiter().GetResult();
                }
                catch (OperationCanceledException)
                {
                    throw new NtsKeClientException(NtsKeClientFailure.Timeout, $"connecting to {endpoint} took over {budget.TotalSeconds:0.#} s");
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
                {
                    throw new NtsKeClientException(NtsKeClientFailure.ConnectionRefused, $"{endpoint} refused the connection", e);
                }
                catch (SocketException e)
                {
                    throw new NtsKeClientException(NtsKeClientFailure.ConnectionFailed, $"{endpoint}: {e.Message}", e);
                }
            }

            connection.Handshake(anchors, serverName);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The trust anchors; without verification an unreadable store is no reason to refuse.</summary>
    private static List<X509Certificate> LoadAnchors(string path, bool optional)
    {
        List<X509Certificate> anchors;
        try
        {
            anchors = NtsKeServerIdentity.ReadPem(path).OfType<X509Certificate>().ToList();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            if (optional)
                return [];
            throw new NtsKeClientException(NtsKeClientFailure.TrustStoreUnreadable, $"{path}: {e.Message}", e);
        }

        if (anchors.Count == 0 && !optional)
            throw new NtsKeClientException(NtsKeClientFailure.TrustStoreUnreadable, $"{path}: no PEM certificate");
        return anchors;
    }
}

/// <summary>
/// One client NTS-KE connection after a verified handshake: send the request, read the response until the record
/// layer says it is complete, export keys. Dispose closes it; the time budget runs from the connect.
/// </summary>
public sealed class NtsKeClientConnection : IDisposable
{
    private readonly Socket socket;
    private readonly NtsKeClientOptions options;
    private readonly TimeSpan budget;
    private readonly Timer deadline;
    private TlsClientProtocol? protocol;
    private NtsKeTlsSession? session;
    private int cutOff;

    internal NtsKeClientConnection(Socket socket, NtsKeClientOptions options, TimeSpan budget)
    {
        this.socket = socket;
        this.options = options;
        this.budget = budget;
        deadline = new Timer(
            _ =>
            {
                Interlocked.Exchange(ref cutOff, 1);
                socket.Dispose();
            },
            null, budget, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The exporter and peer of this connection.</summary>
    public NtsKeTlsSession Session => session ?? throw new InvalidOperationException("no handshake yet");

    /// <summary>
    /// What the certificate check would have refused but the options let through: a date failure under
    /// <see cref="NtsKeClientOptions.SkipDateCheck"/>, or any failure under <see cref="NtsKeClientOptions.SkipVerification"/>;
    /// null when the certificate passed every check. The caller logs it: accepting such a certificate is a risk taken.
    /// </summary>
    public (NtsKeClientFailure Failure, string Message)? Waived { get; private set; }

    internal void Handshake(IReadOnlyList<X509Certificate> anchors, string serverName)
    {
        var peer = new ClientPeer(new BcTlsCrypto(new SecureRandom()), options, anchors, serverName, socket.RemoteEndPoint);
        try
        {
            protocol = new TlsClientProtocol(new NetworkStream(socket, ownsSocket: false));
            protocol.Connect(peer);
        }
        catch (Exception e) when (e is not NtsKeClientException and not OutOfMemoryException)
        {
            if (peer.Rejection is { } rejection)
                throw new NtsKeClientException(rejection.Failure, rejection.Message, e);
            throw Translate(e, "handshake");
        }

        session = peer.Session ?? throw new NtsKeClientException(NtsKeClientFailure.HandshakeFailed, "the handshake completed without keys");
        Waived = peer.Waived;
        if (session.ApplicationProtocol != NtsKeTls.ApplicationProtocol)
            throw new NtsKeClientException(NtsKeClientFailure.NoApplicationProtocol, $"the server negotiated ALPN {session.ApplicationProtocol ?? "(none)"}, not {NtsKeTls.ApplicationProtocol}");
    }

    /// <summary>Sends the request bytes.</summary>
    /// <exception cref="NtsKeClientException">With the reason.</exception>
    public void Send(ReadOnlySpan<byte> request)
    {
        TlsClientProtocol tls = protocol ?? throw new InvalidOperationException("no handshake yet");
        try
        {
            tls.Stream.Write(request);
            tls.Stream.Flush();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw Translate(e, "sending");
        }
    }

    /// <summary>Reads until <paramref name="isComplete"/> says the response is whole; returns it.</summary>
    /// <exception cref="NtsKeClientException">On EOF before completion, past the size limit, or on timeout.</exception>
    public byte[] Receive(NtsKeResponseComplete isComplete)
    {
        ArgumentNullException.ThrowIfNull(isComplete);
        TlsClientProtocol tls = protocol ?? throw new InvalidOperationException("no handshake yet");
        var buffer = new byte[options.MaxResponseBytes];
        int have = 0;
        while (true)
        {
            if (have == buffer.Length)
                throw new NtsKeClientException(NtsKeClientFailure.ResponseTooLarge, $"no complete response in {buffer.Length} octets");
            int n;
            try
            {
                n = tls.Stream.Read(buffer, have, buffer.Length - have);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw Translate(e, "receiving");
            }

            if (n <= 0)
                throw new NtsKeClientException(NtsKeClientFailure.ConnectionClosed, $"the server closed after {have} octets of an incomplete response");
            have += n;
            if (isComplete(buffer.AsSpan(0, have)))
                return buffer.AsSpan(0, have).ToArray();
        }
    }

    /// <summary>Send then receive: the whole NTS-KE exchange.</summary>
    public byte[] Exchange(ReadOnlySpan<byte> request, NtsKeResponseComplete isComplete)
    {
        Send(request);
        return Receive(isComplete);
    }

    public void Dispose()
    {
        deadline.Dispose();
        session?.Clear();
        try
        {
            if (Volatile.Read(ref cutOff) == 0)
                protocol?.Close();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException or TlsException)
        {
            // the peer may be gone already; closing is best effort
        }

        socket.Dispose();
    }

    private NtsKeClientException Translate(Exception e, string phase)
    {
        if (Volatile.Read(ref cutOff) == 1)
            return new NtsKeClientException(NtsKeClientFailure.Timeout, $"{phase} did not finish within {budget.TotalSeconds:0.#} s", e);
        return e switch
        {
            TlsNoCloseNotifyException => new(NtsKeClientFailure.ConnectionClosed, $"{phase}: the server closed the connection", e),
            TlsFatalAlertReceived { AlertDescription: AlertDescription.no_application_protocol } =>
                new(NtsKeClientFailure.NoApplicationProtocol, "the server refused ALPN ntske/1 (no_application_protocol)", e),
            TlsFatalAlertReceived { AlertDescription: AlertDescription.protocol_version } or TlsFatalAlert { AlertDescription: AlertDescription.protocol_version } =>
                new(NtsKeClientFailure.ProtocolVersion, "the server does not speak TLS 1.3", e),
            TlsFatalAlertReceived received =>
                new(NtsKeClientFailure.HandshakeFailed, $"the server sent alert {AlertDescription.GetText(received.AlertDescription)}", e),
            TlsException => new(NtsKeClientFailure.HandshakeFailed, $"{phase}: {e.Message}", e),
            IOException or SocketException or ObjectDisposedException => new(NtsKeClientFailure.ConnectionFailed, $"{phase}: {e.Message}", e),
            _ => new(NtsKeClientFailure.HandshakeFailed, $"{phase}: {e.Message}", e),
        };
    }

    /// <summary>BouncyCastle's client restricted to RFC 8915 §4 and verifying with our own rules.</summary>
    private sealed class ClientPeer(BcTlsCrypto crypto, NtsKeClientOptions options, IReadOnlyList<X509Certificate> anchors, string serverName, EndPoint? remote)
        : DefaultTlsClient(crypto)
    {
        public (NtsKeClientFailure Failure, string Message)? Rejection { get; private set; }

        public (NtsKeClientFailure Failure, string Message)? Waived { get; private set; }

        public NtsKeTlsSession? Session { get; private set; }

        /// <summary>The only moment BouncyCastle lets the exporter run (RFC 8915 §4.3 keys).</summary>
        public override void NotifyHandshakeComplete()
        {
            base.NotifyHandshakeComplete();
            Session = NtsKeTlsSession.Capture(m_context, remote, options.KeySpecs);
        }

        protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.TLSv13.Only();

        protected override IList<ProtocolName>? GetProtocolNames() =>
            options.OfferedProtocols.Count == 0 ? null : options.OfferedProtocols.Select(ProtocolName.AsUtf8Encoding).ToList();

        protected override IList<ServerName>? GetSniServerNames() =>
            NtsKeCertificateVerifier.IsAddress(serverName)
                ? null // RFC 6066 §3: no IP literals in SNI
                : [new ServerName(NameType.host_name, Encoding.ASCII.GetBytes(serverName.TrimEnd('.')))];

        public override TlsAuthentication GetAuthentication() => new Authentication(this);

        private (NtsKeClientFailure Failure, string Message)? Check(IReadOnlyList<X509Certificate> chain)
        {
            (NtsKeClientFailure Failure, string Message)? refusal =
                NtsKeCertificateVerifier.Verify(chain, anchors, serverName, options.SkipDateCheck, DateTime.UtcNow, out var waivedDates);
            if (options.SkipVerification)
            {
                Waived = refusal ?? waivedDates;
                return null;
            }

            Waived = waivedDates;
            Rejection = refusal;
            return Rejection;
        }

        private sealed class Authentication(ClientPeer peer) : TlsAuthentication
        {
            public void NotifyServerCertificate(TlsServerCertificate serverCertificate)
            {
                var chain = serverCertificate.Certificate.GetCertificateList()
                    .Select(c => new X509Certificate(c.GetEncoded()))
                    .ToList();
                if (peer.Check(chain) is { } rejection)
                {
                    short alert = rejection.Failure switch
                    {
                        NtsKeClientFailure.UnknownCa => AlertDescription.unknown_ca,
                        NtsKeClientFailure.Expired or NtsKeClientFailure.NotYetValid => AlertDescription.certificate_expired,
                        _ => AlertDescription.bad_certificate,
                    };
                    throw new TlsFatalAlert(alert, rejection.Message);
                }
            }

            public TlsCredentials? GetClientCredentials(CertificateRequest certificateRequest) => null;
        }
    }
}
