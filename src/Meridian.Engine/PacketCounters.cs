namespace Meridian.Engine;

/// <summary>Why an incoming packet got no answer. The names follow ntpd's <c>sysstats</c> wording.</summary>
public enum DropReason
{
    /// <summary>Shorter than a header, or a bad extension field or trailer ("bad length or format").</summary>
    BadLength,

    /// <summary>Version 0 or above 4.</summary>
    BadVersion,

    /// <summary>A mode this server does not answer (server, broadcast, reserved, or symmetric without peering).</summary>
    Declined,

    /// <summary>Mode 6 control queries handed to the time responder (the engine's control responder answers them).</summary>
    Control,

    /// <summary>Mode 7 (ntpdc private) packets: never answered, so monlist amplification cannot exist.</summary>
    Mode7,

    /// <summary>Packets for the engine (replies, symmetric, mode 6) beyond what it has queued: a flood.</summary>
    Busy,

    /// <summary>Refused by the access list (<c>ignore</c>, <c>noserve</c>, <c>noquery</c>, <c>notrust</c>, <c>version</c>, <c>nopeer</c>).</summary>
    Restricted,

    /// <summary>Over the rate limit of a <c>limited</c> address.</summary>
    Limited,

    /// <summary>A MAC that did not verify, or a key that is not trusted.</summary>
    BadAuth,

    /// <summary>A symmetric peer refused because the passive associations are at their cap.</summary>
    PeerLimit,

    /// <summary>A mode 6 answer not sent: it would exceed the asking address's octet budget.</summary>
    ControlLimited,

    /// <summary>An NTS request (it has a Cookie) missing its Unique Identifier or Authenticator, or with placeholders unlike the cookie (RFC 8915 §5.7).</summary>
    NtsMalformed,

    /// <summary>An NTS cookie that did not open (unknown or rotated-away master key, forged, malformed): answered with an NTS NAK.</summary>
    NtsBadCookie,

    /// <summary>An NTS request whose authenticator did not verify under the cookie's C2S key: answered with an NTS NAK.</summary>
    NtsBadAuth,

    /// <summary>An authentic NTS request whose Unique Identifier was answered recently: a replay, not answered again.</summary>
    NtsReplay,
}

/// <summary>
/// Counters of what the server received and did, updated from several receive threads at once without locks.
/// </summary>
public sealed class PacketCounters
{
    private readonly long[] _dropped = new long[Enum.GetValues<DropReason>().Length];
    private long _received;
    private long _answered;
    private long _control;
    private long _kisses;
    private long _currentVersion;
    private long _olderVersion;
    private long _version1;
    private long _version1Client;
    private long _version1Zero;
    private long _version1Symmetric;

    /// <summary>Well-formed NTP packets of version 4, and of versions 1–3 (ntpd's sysstats "current/older version").</summary>
    public long CurrentVersion => Interlocked.Read(ref _currentVersion);

    public long OlderVersion => Interlocked.Read(ref _olderVersion);

    /// <summary>NTPv1 packets, and of those client requests, mode 0 requests and symmetric packets (NTPsec's sysstats).</summary>
    public long Version1 => Interlocked.Read(ref _version1);

    public long Version1Client => Interlocked.Read(ref _version1Client);

    public long Version1Zero => Interlocked.Read(ref _version1Zero);

    public long Version1Symmetric => Interlocked.Read(ref _version1Symmetric);

    /// <summary>Mode 6 queries received by the control responder.</summary>
    public long ControlQueries => Interlocked.Read(ref _control);

    public long Received => Interlocked.Read(ref _received);

    /// <summary>Kiss-o'-death packets sent.</summary>
    public long Kisses => Interlocked.Read(ref _kisses);

    internal void CountKiss() => Interlocked.Increment(ref _kisses);

    public long Answered => Interlocked.Read(ref _answered);

    public long Dropped(DropReason reason) => Interlocked.Read(ref _dropped[(int)reason]);

    public long TotalDropped
    {
        get
        {
            long total = 0;
            foreach (DropReason reason in Enum.GetValues<DropReason>())
            {
                total += Dropped(reason);
            }

            return total;
        }
    }

    internal void CountReceived() => Interlocked.Increment(ref _received);

    internal void CountAnswered() => Interlocked.Increment(ref _answered);

    internal void CountControl() => Interlocked.Increment(ref _control);

    internal void CountCurrentVersion() => Interlocked.Increment(ref _currentVersion);

    internal void CountOlderVersion() => Interlocked.Increment(ref _olderVersion);

    internal void CountVersion1(Meridian.Protocol.NtpMode mode)
    {
        Interlocked.Increment(ref _version1);
        switch (mode)
        {
            case Meridian.Protocol.NtpMode.Client:
                Interlocked.Increment(ref _version1Client);
                break;
            case Meridian.Protocol.NtpMode.Reserved:
                Interlocked.Increment(ref _version1Zero);
                break;
            case Meridian.Protocol.NtpMode.SymmetricActive or Meridian.Protocol.NtpMode.SymmetricPassive:
                Interlocked.Increment(ref _version1Symmetric);
                break;
        }
    }

    public void CountBusy() => CountDropped(DropReason.Busy);

    public void CountRestricted() => CountDropped(DropReason.Restricted);

    internal void CountDropped(DropReason reason) => Interlocked.Increment(ref _dropped[(int)reason]);
}
