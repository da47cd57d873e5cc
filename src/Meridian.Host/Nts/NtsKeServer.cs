using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace Meridian.Host.Nts;

/// <summary>What the record layer wants done with the bytes received so far.</summary>
public enum NtsKeReplyKind
{
    /// <summary>The request is not complete yet: read more.</summary>
    NeedMore,

    /// <summary>Send <see cref="NtsKeReply.Response"/> and close (RFC 8915 §4: one request, one response).</summary>
    Respond,

    /// <summary>Close without answering.</summary>
    Close,
}

/// <summary>The handler's answer; see <see cref="NtsKeReplyKind"/>.</summary>
public readonly record struct NtsKeReply(NtsKeReplyKind Kind, byte[]? Response)
{
    public static NtsKeReply NeedMore => new(NtsKeReplyKind.NeedMore, null);

    public static NtsKeReply Close => new(NtsKeReplyKind.Close, null);

    public static NtsKeReply Respond(byte[] response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return new(NtsKeReplyKind.Respond, response);
    }
}

/// <summary>
/// The record layer's hook: called on the connection's thread with every byte received so far (after each read),
/// so that it, not the transport, decides where a request ends. May call <see cref="NtsKeTlsSession.ExportKey"/>.
/// </summary>
public delegate NtsKeReply NtsKeRequestHandler(ReadOnlySpan<byte> received, NtsKeTlsSession session);

/// <summary>Why a connection that got past the limits still ended without a response.</summary>
public enum NtsKeServerFailure
{
    /// <summary>The client offered no ALPN or not ntske/1 (RFC 8915 §4); refused with no_application_protocol.</summary>
    NoApplicationProtocol,

    /// <summary>The client cannot do TLS 1.3 (RFC 8915 §4 forbids earlier versions).</summary>
    ProtocolVersion,

    /// <summary>Another TLS handshake error raised by us.</summary>
    HandshakeFailed,

    /// <summary>The client aborted the handshake with an alert (it may not trust our certificate).</summary>
    PeerAlert,

    /// <summary>The TCP connection broke or closed during the handshake.</summary>
    ConnectionError,

    /// <summary>The request grew past the size limit.</summary>
    RequestTooLarge,

    /// <summary>The client closed before the handler saw a complete request.</summary>
    IncompleteRequest,

    /// <summary>The handler threw.</summary>
    HandlerError,
}

/// <summary>A snapshot of the server's counters.</summary>
public sealed record NtsKeServerCounters(
    long HandshakesOk,
    long HandshakesFailed,
    long TimedOut,
    long RefusedBusy,
    long Responses,
    long BytesReceived,
    long BytesSent,
    IReadOnlyDictionary<NtsKeServerFailure, long> Failures)
{
    public long Failed(NtsKeServerFailure reason) => Failures.TryGetValue(reason, out long n) ? n : 0;
}

/// <summary>Where and how the NTS-KE server listens.</summary>
public sealed class NtsKeServerOptions
{
    /// <summary>PEM: the server certificate first, then intermediates.</summary>
    public required string CertificateFile { get; init; }

    /// <summary>PEM: the RSA or EC private key (PKCS#8 or traditional, unencrypted).</summary>
    public required string PrivateKeyFile { get; init; }

    /// <summary>Addresses to listen on; port 0 picks one (see <see cref="NtsKeServer.LocalEndPoints"/>).</summary>
    public IReadOnlyList<IPEndPoint> Endpoints { get; init; } =
        [new IPEndPoint(IPAddress.Any, NtsKeTls.DefaultPort), new IPEndPoint(IPAddress.IPv6Any, NtsKeTls.DefaultPort)];

    /// <summary>Connections served at once; more are closed on accept so a flood cannot pile up threads.</summary>
    public int MaxConcurrentConnections { get; init; } = 64;

    /// <summary>Whole-connection budget (handshake, request, response); a slow client is cut off at it.</summary>
    public TimeSpan ConnectionTimeLimit { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A request longer than this is not one (RFC 8915 requests are a few hundred octets).</summary>
    public int MaxRequestBytes { get; init; } = 16 * 1024;

    /// <summary>Keys exported at each handshake for the handler (BouncyCastle allows the exporter only then).</summary>
    public IReadOnlyList<NtsKeKeySpec> KeySpecs { get; init; } = NtsKeTls.DefaultKeySpecs;
}

/// <summary>
/// The TLS 1.3 side of an NTS-KE server (RFC 8915 §4): listens on TCP, runs each handshake on a thread of its own
/// (never the daemon's event loop), insists on ALPN ntske/1, and passes the decrypted bytes to the record layer's
/// <see cref="NtsKeRequestHandler"/>. Limits in-flight connections, time and request size, and counts what it refused.
/// </summary>
public sealed class NtsKeServer : IDisposable
{
    private readonly NtsKeServerOptions options;
    private readonly NtsKeRequestHandler handler;
    private readonly SecureRandom random = new();
    private readonly List<Socket> listeners = [];
    private readonly List<Thread> acceptThreads = [];
    private readonly ConcurrentDictionary<Socket, byte> active = new();
    private readonly long[] failures = new long[Enum.GetValues<NtsKeServerFailure>().Length];
    private volatile NtsKeServerIdentity identity;
    private volatile bool disposed;
    private int inFlight;
    private long handshakesOk, timedOut, refusedBusy, responses, bytesReceived, bytesSent;

    /// <exception cref="InvalidDataException">When the certificate or key cannot be used.</exception>
    public NtsKeServer(NtsKeServerOptions options, NtsKeRequestHandler handler)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxConcurrentConnections);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxRequestBytes);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.ConnectionTimeLimit, TimeSpan.Zero);
        this.options = options;
        this.handler = handler;
        identity = NtsKeServerIdentity.Load(options.CertificateFile, options.PrivateKeyFile);
    }

    /// <summary>The bound addresses, with the real ports when 0 was asked for.</summary>
    public IReadOnlyList<IPEndPoint> LocalEndPoints { get; private set; } = [];

    /// <summary>Connections being served now.</summary>
    public int ConnectionsInFlight => Volatile.Read(ref inFlight);

    /// <summary>Subject of the certificate in use, to show which one a reload left in place.</summary>
    public string CertificateSubject => identity.Chain[0].SubjectDN.ToString();

    /// <summary>Expiry of the certificate in use (UTC).</summary>
    public DateTime CertificateNotAfter => identity.Chain[0].NotAfter;

    /// <summary>
    /// Re-reads the certificate and key files, e.g. after a renewal, for connections from now on. When the new
    /// files cannot be used the old pair stays and the reason is returned; null means the new pair is in use.
    /// </summary>
    public string? Reload()
    {
        try
        {
            identity = NtsKeServerIdentity.Load(options.CertificateFile, options.PrivateKeyFile);
            return null;
        }
        catch (InvalidDataException e)
        {
            return e.Message;
        }
    }

    /// <summary>Binds every endpoint and starts one accept thread for each.</summary>
    /// <exception cref="SocketException">When an address cannot be bound.</exception>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (listeners.Count > 0)
            throw new InvalidOperationException("already started");
        var bound = new List<IPEndPoint>();
        try
        {
            foreach (IPEndPoint endpoint in options.Endpoints)
            {
                var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                listeners.Add(socket);
                if (endpoint.AddressFamily == AddressFamily.InterNetworkV6)
                    socket.DualMode = false; // IPv4 has its own listener; both can then use the same port
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                socket.Bind(endpoint);
                socket.Listen(128);
                bound.Add((IPEndPoint)socket.LocalEndPoint!);
            }
        }
        catch
        {
            foreach (Socket socket in listeners)
                socket.Dispose();
            listeners.Clear();
            throw;
        }

        LocalEndPoints = bound;
        foreach (Socket listener in listeners)
        {
            var thread = new Thread(() => AcceptLoop(listener)) { IsBackground = true, Name = "nts-ke accept" };
            acceptThreads.Add(thread);
            thread.Start();
        }
    }

    public NtsKeServerCounters Counters
    {
        get
        {
            var byReason = new Dictionary<NtsKeServerFailure, long>();
            long failed = 0;
            foreach (NtsKeServerFailure reason in Enum.GetValues<NtsKeServerFailure>())
            {
                long n = Interlocked.Read(ref failures[(int)reason]);
                byReason[reason] = n;
                failed += n;
            }

            return new NtsKeServerCounters(
                Interlocked.Read(ref handshakesOk), failed, Interlocked.Read(ref timedOut),
                Interlocked.Read(ref refusedBusy), Interlocked.Read(ref responses),
                Interlocked.Read(ref bytesReceived), Interlocked.Read(ref bytesSent), byReason);
        }
    }

    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        foreach (Socket listener in listeners)
            listener.Dispose();
        foreach (Thread thread in acceptThreads)
            thread.Join(TimeSpan.FromSeconds(2));
        foreach (Socket socket in active.Keys)
            socket.Dispose();
    }

    private void AcceptLoop(Socket listener)
    {
        while (!disposed)
        {
            Socket connection;
            try
            {
                connection = listener.Accept();
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException) when (!disposed)
            {
                Thread.Sleep(50); // e.g. out of descriptors: do not spin
                continue;
            }
            catch (SocketException)
            {
                return;
            }

            if (Interlocked.Increment(ref inFlight) > options.MaxConcurrentConnections)
            {
                Interlocked.Decrement(ref inFlight);
                Interlocked.Increment(ref refusedBusy);
                connection.Dispose();
                continue;
            }

            var thread = new Thread(() => Serve(connection)) { IsBackground = true, Name = "nts-ke connection" };
            thread.Start();
        }
    }

    private void Serve(Socket socket)
    {
        int cutOff = 0;
        active[socket] = 0;
        if (disposed)
            socket.Dispose(); // Dispose ran between the accept and this line
        // One budget for the whole connection: closing the socket unblocks whatever read or write is waiting.
        using var deadline = new Timer(
            _ =>
            {
                Interlocked.Exchange(ref cutOff, 1);
                socket.Dispose();
            },
            null, options.ConnectionTimeLimit, Timeout.InfiniteTimeSpan);
        try
        {
            socket.NoDelay = true;
            using var network = new NetworkStream(socket, ownsSocket: true);
            var protocol = new TlsServerProtocol(network);
            var peer = new ServerPeer(new BcTlsCrypto(random), identity, options.KeySpecs, socket.RemoteEndPoint);
            protocol.Accept(peer);
            Interlocked.Increment(ref handshakesOk);
            NtsKeTlsSession session = peer.Session ?? throw new TlsFatalAlert(AlertDescription.internal_error);
            try
            {
                ServeRequest(protocol, session);
            }
            finally
            {
                session.Clear();
            }
        }
        catch (Exception) when (Volatile.Read(ref cutOff) == 1)
        {
            Interlocked.Increment(ref timedOut);
        }
        catch (TlsFatalAlertReceived)
        {
            Count(NtsKeServerFailure.PeerAlert);
        }
        catch (TlsFatalAlert alert)
        {
            Count(alert.AlertDescription switch
            {
                AlertDescription.no_application_protocol => NtsKeServerFailure.NoApplicationProtocol,
                AlertDescription.protocol_version => NtsKeServerFailure.ProtocolVersion,
                _ => NtsKeServerFailure.HandshakeFailed,
            });
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or TlsException)
        {
            Count(NtsKeServerFailure.ConnectionError);
        }
        finally
        {
            active.TryRemove(socket, out _);
            socket.Dispose();
            Interlocked.Decrement(ref inFlight);
        }
    }

    private void ServeRequest(TlsServerProtocol protocol, NtsKeTlsSession session)
    {
        Stream stream = protocol.Stream;
        var buffer = new byte[options.MaxRequestBytes];
        int have = 0;
        while (true)
        {
            if (have == buffer.Length)
            {
                Count(NtsKeServerFailure.RequestTooLarge);
                protocol.Close();
                return;
            }

            int n = stream.Read(buffer, have, buffer.Length - have);
            if (n <= 0)
            {
                Count(NtsKeServerFailure.IncompleteRequest);
                return;
            }

            have += n;
            Interlocked.Add(ref bytesReceived, n);
            NtsKeReply reply;
            try
            {
                reply = handler(buffer.AsSpan(0, have), session);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Count(NtsKeServerFailure.HandlerError);
                protocol.Close();
                return;
            }

            switch (reply.Kind)
            {
                case NtsKeReplyKind.NeedMore:
                    continue;
                case NtsKeReplyKind.Respond:
                    stream.Write(reply.Response ?? []);
                    stream.Flush();
                    Interlocked.Add(ref bytesSent, reply.Response?.Length ?? 0);
                    Interlocked.Increment(ref responses);
                    protocol.Close(); // close_notify, then FIN
                    return;
                default:
                    protocol.Close();
                    return;
            }
        }
    }

    private void Count(NtsKeServerFailure reason) => Interlocked.Increment(ref failures[(int)reason]);

    /// <summary>BouncyCastle's server peer restricted to what RFC 8915 §4 allows.</summary>
    private sealed class ServerPeer(BcTlsCrypto crypto, NtsKeServerIdentity identity, IReadOnlyList<NtsKeKeySpec> keySpecs, EndPoint? remote)
        : DefaultTlsServer(crypto)
    {
        public NtsKeTlsSession? Session { get; private set; }

        /// <summary>The only moment BouncyCastle lets the exporter run (RFC 8915 §4.3 keys).</summary>
        public override void NotifyHandshakeComplete()
        {
            base.NotifyHandshakeComplete();
            Session = NtsKeTlsSession.Capture(m_context, remote, keySpecs);
        }

        protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.TLSv13.Only();

        protected override IList<ProtocolName> GetProtocolNames() => [NtsKeTls.Alpn];

        public override IDictionary<int, byte[]> GetServerExtensions()
        {
            IDictionary<int, byte[]> extensions = base.GetServerExtensions();
            // BouncyCastle refuses a client whose ALPN list lacks ntske/1 but lets one without ALPN through;
            // RFC 8915 §4 wants both refused.
            if (m_selectedProtocolName is null || !m_selectedProtocolName.Equals(NtsKeTls.Alpn))
                throw new TlsFatalAlert(AlertDescription.no_application_protocol);
            return extensions;
        }

        /// <summary>
        /// On TLS 1.3 DefaultTlsServer has no key exchange to pick credentials by, so we hand over ours, signing with
        /// a scheme the client offered that fits our key.
        /// </summary>
        public override TlsCredentials GetCredentials()
        {
            IList<SignatureAndHashAlgorithm>? offered = m_context.SecurityParameters.ClientSigAlgs;
            SignatureAndHashAlgorithm[] ours = identity.IsRsa
                ? [SignatureAndHashAlgorithm.rsa_pss_rsae_sha256, SignatureAndHashAlgorithm.rsa_pss_rsae_sha384,
                   SignatureAndHashAlgorithm.rsa_pss_rsae_sha512]
                : [SignatureAndHashAlgorithm.GetInstance(
                    identity.EcFieldBits switch { <= 256 => HashAlgorithm.sha256, <= 384 => HashAlgorithm.sha384, _ => HashAlgorithm.sha512 },
                    SignatureAlgorithm.ecdsa)];
            SignatureAndHashAlgorithm? chosen = ours.FirstOrDefault(a => offered is null || offered.Contains(a));
            if (chosen is null)
                throw new TlsFatalAlert(AlertDescription.handshake_failure);
            var entries = identity.Chain
                .Select(c => new CertificateEntry(new BcTlsCertificate(crypto, c.GetEncoded()), null))
                .ToArray();
            var certificate = new Certificate([], entries);
            return new BcDefaultTlsCredentialedSigner(
                new TlsCryptoParameters(m_context), crypto, identity.PrivateKey, certificate, chosen);
        }
    }
}
