namespace Meridian.Engine.Nts;

/// <summary>
/// What NTS did on the NTP side, for mode 6 (NTPsec's <c>ntpq -c ntsinfo</c> names them <c>nts_client_send</c>,
/// <c>nts_server_recv_good</c>, <c>nts_cookie_decode_old</c>, ...). The server half is counted from several receive
/// threads at once, so every counter is updated without locks.
/// </summary>
public sealed class NtsCounters
{
    /// <summary>Cookie ages told apart: the current master key, the three retained before it, and older or unknown.</summary>
    public const int Ages = 5;

    private readonly long[] _decoded = new long[Ages];
    private long _clientSent;
    private long _clientGood;
    private long _clientBad;
    private long _serverGood;
    private long _serverBad;
    private long _serverSent;
    private long _naks;
    private long _cookiesMade;
    private long _decodeErrors;

    /// <summary>NTS requests our associations sent (RFC 8915 §5.7).</summary>
    public long ClientSent => Interlocked.Read(ref _clientSent);

    /// <summary>Replies that echoed our Unique Identifier and authenticated.</summary>
    public long ClientReceivedGood => Interlocked.Read(ref _clientGood);

    /// <summary>Replies refused by the NTS checks, NAKs included.</summary>
    public long ClientReceivedBad => Interlocked.Read(ref _clientBad);

    /// <summary>NTS requests that authenticated and were answered (replays are not).</summary>
    public long ServerReceivedGood => Interlocked.Read(ref _serverGood);

    /// <summary>NTS requests refused: malformed, a cookie that did not open, a failing authenticator, a replay.</summary>
    public long ServerReceivedBad => Interlocked.Read(ref _serverBad);

    /// <summary>NTS replies sent: authenticated time, and NAKs.</summary>
    public long ServerSent => Interlocked.Read(ref _serverSent);

    /// <summary>NTS NAKs sent (kiss code NTSN, RFC 8915 §5.7).</summary>
    public long NaksSent => Interlocked.Read(ref _naks);

    /// <summary>Cookies sealed into replies.</summary>
    public long CookiesMade => Interlocked.Read(ref _cookiesMade);

    /// <summary>Cookies that failed to open for another reason than their age: forged, damaged, malformed.</summary>
    public long DecodeErrors => Interlocked.Read(ref _decodeErrors);

    /// <summary>
    /// Cookies opened under the master key <paramref name="age"/> rotations back (0: the current key); the last age
    /// counts the cookies of a key no longer held (too old, or never ours), which do not open.
    /// </summary>
    public long Decoded(int age) => Interlocked.Read(ref _decoded[Math.Clamp(age, 0, Ages - 1)]);

    internal void CountClientSent() => Interlocked.Increment(ref _clientSent);

    internal void CountClientGood() => Interlocked.Increment(ref _clientGood);

    internal void CountClientBad() => Interlocked.Increment(ref _clientBad);

    internal void CountServerGood() => Interlocked.Increment(ref _serverGood);

    internal void CountServerBad() => Interlocked.Increment(ref _serverBad);

    internal void CountServerSent() => Interlocked.Increment(ref _serverSent);

    internal void CountNak() => Interlocked.Increment(ref _naks);

    internal void CountCookiesMade(int cookies) => Interlocked.Add(ref _cookiesMade, cookies);

    internal void CountDecodeError() => Interlocked.Increment(ref _decodeErrors);

    internal void CountDecoded(int age) => Interlocked.Increment(ref _decoded[Math.Clamp(age, 0, Ages - 1)]);
}

/// <summary>
/// The NTS-KE server's counters as the host reads them (the engine has no NTS-KE of its own): TLS handshakes
/// completed, responses that gave keys and cookies, requests refused with an Error record or no common protocol or
/// AEAD, connections that ended without a response (TLS failures, timeouts, the connection cap), and the cookies
/// sealed into responses; and the client
/// side's exchanges that gave keys or failed.
/// </summary>
public readonly record struct NtsKeCounts(long Handshakes, long Responses, long Refused, long Failed, long CookiesMade, long ProbesGood, long ProbesBad)
{
    /// <summary>NTPsec's <c>nts_ke_serves_bad</c>: every connection that got no keys.</summary>
    public long ServesBad => Refused + Failed;
}
