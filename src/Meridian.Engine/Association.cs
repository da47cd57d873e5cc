using System.Net;
using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>How an association exchanges packets.</summary>
public enum AssociationMode
{
    /// <summary><c>server</c> / <c>pool</c>: we send mode 3, it answers mode 4.</summary>
    Client,

    /// <summary><c>peer</c>: we send mode 1 on our schedule; it sends mode 2 on its own.</summary>
    SymmetricActive,

    /// <summary>Made on the fly for a peer that sent us mode 1.</summary>
    SymmetricPassive,

    /// <summary>A reference clock driver inside the daemon (the local clock).</summary>
    Refclock,

    /// <summary><c>broadcast ADDR</c>: we send mode 5 to a broadcast address or a multicast group (ntpd's hmode 5).</summary>
    Broadcast,

    /// <summary>Made on the fly for a server whose mode 5 packets we hear (<c>broadcastclient</c>, <c>multicastclient</c>; hmode 6).</summary>
    BroadcastClient,

    /// <summary><c>manycastclient GROUP</c>: sends mode 3 to the group and mobilizes a client association for each server that answers.</summary>
    ManycastClient,
}

/// <summary>Peer events of the mode 6 status word (RFC 9327 §2.4.2).</summary>
public enum PeerEvent
{
    Unspecified = 0,
    Mobilize = 1,
    Demobilize = 2,
    Unreachable = 3,
    Reachable = 4,
    Restart = 5,
    NoReply = 6,
    RateExceeded = 7,
    AccessDenied = 8,
    LeapArmed = 9,
    SystemPeer = 10,
    ClockEvent = 11,
    BadAuthentication = 12,
    Popcorn = 13,
}

/// <summary>The tally code <c>ntpq -p</c> shows before each association.</summary>
public enum TallyCode
{
    Reject = ' ',
    Falseticker = 'x',
    Excess = '.',
    Outlier = '-',
    Candidate = '+',
    Backup = '#',
    SystemPeer = '*',
    PpsPeer = 'o',
}

/// <summary>What the configuration asks of one association.</summary>
public sealed record AssociationSettings(IPEndPoint Address)
{
    public AssociationMode Mode { get; init; } = AssociationMode.Client;

    public int MinPoll { get; init; } = NtpConstants.DefaultMinPoll;

    public int MaxPoll { get; init; } = NtpConstants.DefaultMaxPoll;

    public bool Iburst { get; init; }

    public bool Burst { get; init; }

    public bool Prefer { get; init; }

    public bool NoSelect { get; init; }

    /// <summary><c>true</c>: always a truechimer, never thrown out by the selection algorithm.</summary>
    public bool True { get; init; }

    public byte Version { get; init; } = 4;

    /// <summary>For a reference clock: its driver type (the t of 127.127.t.u), stratum and reference ID.</summary>
    public int RefclockType { get; init; }

    public int RefclockStratum { get; init; }

    public ReferenceId RefclockId { get; init; }

    /// <summary>Name for logs (the configured host name or the refclock name).</summary>
    public string? Name { get; init; }

    /// <summary>A reference clock's <c>fudge time1</c> and <c>time2</c> (seconds) and <c>flag1</c>..<c>flag4</c> (bits 0..3), as configured.</summary>
    public double? RefclockTime1 { get; init; }

    public double? RefclockTime2 { get; init; }

    public int RefclockFlags { get; init; }

    /// <summary>The symmetric key ID (<c>key N</c>), if any.</summary>
    public uint? Key { get; init; }

    /// <summary>
    /// <c>server ... nts</c>: requests and replies are protected by NTS (RFC 8915). Such an association sends nothing
    /// until the host hands it the keys and cookies of an NTS-KE (<see cref="NtpEngine.SetNts"/>).
    /// </summary>
    public bool Nts { get; init; }

    /// <summary>
    /// <c>noval</c>: the host accepts any NTS-KE certificate for this association (NTPsec's option, insecure). The
    /// engine does not look at it; the NTS-KE client does.
    /// </summary>
    public bool NtsNoValidation { get; init; }

    /// <summary>The NTS-KE server's port (<c>server HOST:PORT nts</c>); for the NTS-KE client, like <see cref="NtsNoValidation"/>.</summary>
    public int NtsKePort { get; init; } = 4460;

    /// <summary>This server's CA file or directory (<c>ca LOCATION</c> on its line), over <c>nts ca</c>; for the NTS-KE client.</summary>
    public string? NtsCa { get; init; }

    /// <summary>The AEAD offered first to this server (<c>aead NAME</c> on its line), over <c>nts aead</c>; for the NTS-KE client.</summary>
    public ushort? NtsAead { get; init; }

    /// <summary>The pool this association came from; such associations are dropped and replaced when they fail.</summary>
    public Pool? Pool { get; init; }

    /// <summary>The hop limit of packets to a multicast group (<c>broadcast</c>, <c>manycastclient</c>: <c>ttl N</c>).</summary>
    public int Ttl { get; init; } = 1;

    /// <summary>A broadcast client first measures the round trip with a volley of client requests (not <c>novolley</c>).</summary>
    public bool Volley { get; init; } = true;

    /// <summary>For a broadcast client: the group or broadcast address the server's packets came to.</summary>
    public IPAddress? Group { get; init; }

    /// <summary>For a reference clock with a device (NMEA, PPS, SHM): what its driver is given.</summary>
    public Refclocks.RefclockSettings? Refclock { get; init; }
}

/// <summary>What became of a packet handed to an association.</summary>
public enum ReplyOutcome
{
    /// <summary>A sample entered the filter, and it is news for the clock.</summary>
    NewSample,

    /// <summary>A sample entered the filter but the filter's choice did not change.</summary>
    OldSample,

    /// <summary>A sample from a server that is not synchronized: reachability counts, the sample does not.</summary>
    Unsynchronized,

    /// <summary>Not a reply to our last request (duplicate, stale or forged).</summary>
    Bogus,

    /// <summary>A kiss-o'-death: the association slowed down or stopped.</summary>
    Kiss,
}

/// <summary>
/// One association (RFC 5905 §9–§10, §13): the peer variables from the last packet, the reach register, the
/// clock filter, and the poll schedule with iburst and burst.
/// </summary>
public sealed class Association
{
    /// <summary>Packets in an iburst or burst.</summary>
    public const int BurstCount = 8;

    /// <summary>Client requests of a broadcast client's volley, and the answers that end it early.</summary>
    public const int VolleyCount = 6;

    public const int VolleyAnswers = 2;

    /// <summary>Seconds between packets of a burst.</summary>
    public const double BurstSpacing = 2;

    private NtpTimestamp _expectedOrigin;
    private NtpTimestamp _sentAt;
    private NtpTimestamp _lastReceivedTransmit;
    private NtpTimestamp _lastReceivedAt;
    private int _burstLeft;
    private bool _everReached;
    private bool _reportedUnreachable;
    private NtpTimestamp _lastArrival;
    private NtpTimestamp _lastBroadcast;
    private int _volleySent;
    private int _volleyAnswers;
    private double? _pendingSpike;
    private IPEndPoint? _ntpAddress;
    private bool _keyExchangeRequested;

    public Association(int id, AssociationSettings settings, double now, double precisionSeconds)
    {
        Id = id;
        RecordEvent(PeerEvent.Mobilize);
        Settings = settings ?? throw new ArgumentNullException(nameof(settings));
        Filter = new ClockFilter(precisionSeconds);
        HostPoll = settings.MinPoll;
        Stratum = NtpHeader.UnsynchronizedStratum;
        Leap = LeapIndicator.Unsynchronized;
        ReferenceId = KissCode.Init;
        // The first poll goes out within a few seconds of start, as in ntpd.
        NextPoll = now + 1;
        if (settings.Mode == AssociationMode.Refclock)
        {
            Stratum = (byte)settings.RefclockStratum;
            ReferenceId = settings.RefclockId;
            Leap = LeapIndicator.NoWarning;
            if (settings.Refclock is { } refclock)
            {
                Driver = Refclocks.RefclockDriver.Create(refclock);
                Leap = LeapIndicator.Unsynchronized;
                Precision = Driver.Precision;
            }
        }
        else if (settings.Mode is AssociationMode.Broadcast or AssociationMode.ManycastClient)
        {
            // ntpq shows these associations by their kind, as ntpd names them: .BCST. and .MCST. for our broadcasts
            // to an address and to a group, .ACST. for a manycast client's requests.
            bool group = settings.Address.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 || settings.Address.Address.GetAddressBytes()[0] is >= 224 and < 240;
            ReferenceId = ReferenceId.FromAscii(settings.Mode == AssociationMode.ManycastClient ? "ACST" : group ? "MCST" : "BCST");
        }

        InVolley = settings.Mode == AssociationMode.BroadcastClient && settings.Volley;
    }

    /// <summary>
    /// A broadcast client still measuring the round trip to its server with client requests; its server's broadcasts
    /// wait until the volley is answered or given up (then <c>broadcastdelay</c> stands for the one-way delay).
    /// </summary>
    public bool InVolley { get; private set; }

    /// <summary>The one-way delay the volley measured (half the least round trip), seconds; null before, or without a volley.</summary>
    public double? CalibratedDelay { get; private set; }

    /// <summary>Sends client requests of its own (mode 3): a server, a broadcast client in its volley, a manycast client.</summary>
    public bool SendsClientRequests => Mode is AssociationMode.Client or AssociationMode.BroadcastClient or AssociationMode.ManycastClient;

    /// <summary>Association ID, as ntpq shows it.</summary>
    public int Id { get; }

    public AssociationSettings Settings { get; }

    /// <summary>Where requests go: the configured address, or the NTP server NTS-KE named (RFC 8915 §4.1.7).</summary>
    public IPEndPoint Address => _ntpAddress ?? Settings.Address;

    /// <summary>The NTS keys and cookies (RFC 8915 §5.7), once an NTS-KE gave them; null before, and without NTS.</summary>
    public Nts.NtsClientState? NtsState { get; private set; }

    /// <summary>
    /// An NTS association that cannot send: no keys yet, no cookie left, or a NAK (RFC 8915 §5.7). The host then
    /// runs NTS-KE and hands in the result (<see cref="NtpEngine.SetNts"/>); until then polls go unsent.
    /// </summary>
    public bool NeedsKeyExchange => Settings.Nts && (NtsState is null || NtsState.NeedsKeyExchange);

    /// <summary>Cookies in the jar (for ntpq; 0 without NTS).</summary>
    public int NtsCookies => NtsState?.CookieCount ?? 0;

    /// <summary>Replies dropped by the NTS checks: wrong or missing Unique Identifier, authenticator missing or failing.</summary>
    public long BogusNts { get; private set; }

    /// <summary>NTS NAKs that echoed our Unique Identifier (the server could not use our cookie).</summary>
    public long NtsNaks { get; private set; }

    /// <summary>NTS-KE exchanges that gave this association keys and cookies (RFC 8915 §4).</summary>
    public long NtsKeyExchanges { get; private set; }

    /// <summary>NTS-KE exchanges that failed, as the host reported them (<see cref="NtpEngine.KeyExchangeFailed"/>).</summary>
    public long NtsKeyExchangeFailures { get; private set; }

    /// <summary>Why the last NTS-KE failed (the host's words, e.g. <c>NameMismatch: ...</c>); null before any failure.</summary>
    public string? NtsLastFailure { get; private set; }

    /// <summary>
    /// Takes the result of an NTS-KE: the old state is disposed, the next poll is due now, and the requests go to
    /// <paramref name="ntpAddress"/> when NTS-KE named another NTP server (resolved by the host).
    /// </summary>
    internal void SetNts(Nts.NtsClientState state, double now, IPEndPoint? ntpAddress)
    {
        if (!ReferenceEquals(NtsState, state))
        {
            NtsState?.Dispose();
        }

        NtsState = state;
        NtsKeyExchanges++;
        _ntpAddress = ntpAddress;
        _keyExchangeRequested = false;
        _expectedOrigin = NtpTimestamp.Zero;
        NextPoll = Math.Min(NextPoll, now);
    }

    /// <summary>True once per episode of <see cref="NeedsKeyExchange"/>, so the host is asked once, not at every poll.</summary>
    internal bool TakeKeyExchangeRequest()
    {
        if (!NeedsKeyExchange || _keyExchangeRequested)
        {
            return false;
        }

        _keyExchangeRequested = true;
        return true;
    }

    /// <summary>A poll that cannot go out for want of NTS keys: reach ages as at a poll, so stale samples lose their weight.</summary>
    internal void WaitForKeys(double now, int systemPoll)
    {
        _burstLeft = 0;
        ShiftReach(now);
        HostPoll = Math.Clamp(systemPoll, Settings.MinPoll, Settings.MaxPoll);
        NextPoll = now + Math.Pow(2, HostPoll);
    }

    /// <summary>A reply the NTS checks refused (RFC 8915 §5.7): counted, and it is a bad_auth event.</summary>
    internal void CountBogusNts()
    {
        BogusNts++;
        CountBadAuth();
    }

    internal void KeyExchangeFailed(string reason)
    {
        NtsKeyExchangeFailures++;
        NtsLastFailure = reason;
    }

    internal void CountNtsNak()
    {
        NtsNaks++;
        RecordEvent(PeerEvent.BadAuthentication);
    }

    public AssociationMode Mode => Settings.Mode;

    public ClockFilter Filter { get; }

    public LeapIndicator Leap { get; private set; }

    public byte Stratum { get; private set; }

    public sbyte Precision { get; private set; }

    public sbyte PeerPoll { get; private set; }

    public double RootDelay { get; private set; }

    public double RootDispersion { get; private set; }

    public ReferenceId ReferenceId { get; private set; }

    public NtpTimestamp ReferenceTime { get; private set; }

    /// <summary>The 8-bit reach register: one bit per poll, set when that poll was answered.</summary>
    public byte Reach { get; private set; }

    /// <summary>Polls without any answer since the last one.</summary>
    public int Unreach { get; private set; }

    /// <summary>log2 of our poll interval for this association.</summary>
    public int HostPoll { get; private set; }

    public double NextPoll { get; private set; }

    /// <summary>Monotonic time of the sample the clock filter chose.</summary>
    public double UpdateTime => Filter.BestSampleTime;

    public TallyCode Tally { get; set; } = TallyCode.Reject;

    /// <summary>Mode 6 peer event counter (saturates at 15) and the last event code.</summary>
    public int EventCount { get; private set; }

    public PeerEvent LastEvent { get; private set; }

    /// <summary>When the last packet from the source arrived (monotonic seconds), for ntpq's "when".</summary>
    public double LastReceived { get; private set; } = double.NaN;

    /// <summary>The last transmit timestamp we sent and the receive timestamp of the last packet (ntpq's xmt and rec).</summary>
    public NtpTimestamp LastReceivedAt => _lastArrival;

    /// <summary>
    /// The transmit timestamp of the last packet accepted (ntpd's <c>org</c>: the origin our next symmetric packet
    /// echoes) and the transmit timestamp of our last request as sent (<c>xmt</c>; random for a client, RFC 9109).
    /// </summary>
    public NtpTimestamp LastOrigin { get; private set; }

    public NtpTimestamp LastTransmit { get; private set; }

    /// <summary>The last packet accepted carried a MAC of a trusted key that verified.</summary>
    public bool Authentic { get; set; }

    /// <summary>Packets refused for their MAC (a bad_auth event each), and whether a missing key was logged.</summary>
    public long BadAuth { get; private set; }

    public bool ReportedMissingKey { get; set; }

    public void CountBadAuth()
    {
        BadAuth++;
        RecordEvent(PeerEvent.BadAuthentication);
    }

    /// <summary>Requests sent and packets received from the source (ntpq's <c>pstats</c>).</summary>
    public long Sent { get; private set; }

    public long Received { get; private set; }

    /// <summary>Packets whose origin timestamp was not our last transmit (forged, stale or replayed).</summary>
    public long BogusOrigin { get; private set; }

    /// <summary>Symmetric packets that repeated the last transmit timestamp.</summary>
    public long Duplicates { get; private set; }

    /// <summary>Monotonic time the reach register last went from zero to non-zero or back (ntpq's <c>timereach</c>).</summary>
    public double ReachChanged { get; private set; } = double.NaN;

    public void RecordEvent(PeerEvent e)
    {
        EventCount = Math.Min(EventCount + 1, 15);
        LastEvent = e;
        EventRecorded?.Invoke(this, e);
    }

    /// <summary>Told of every peer event (protostats); set by the engine.</summary>
    public Action<Association, PeerEvent>? EventRecorded { get; init; }

    /// <summary>Polls sent since the last answer (bursts count once).</summary>
    public int SilentPolls { get; private set; }

    /// <summary>Samples in a row at which the selection found this source a falseticker (pool replacement).</summary>
    public int FalsetickerRun { get; internal set; }

    /// <summary>Our address as this source reaches us (ntpd's <c>dstadr</c>), once a packet has come; null before.</summary>
    public System.Net.IPAddress? LocalAddress { get; set; }

    /// <summary>
    /// The source is synchronized to us: its reference ID is our address (RFC 5905 fit(), the loop test). Stratum 1
    /// reference IDs are clock codes, never addresses.
    /// </summary>
    public bool IsSynchronizedToUs =>
        !IsRefclock && Stratum > 1 && LocalAddress is not null && ReferenceId == ReferenceId.FromAddress(LocalAddress);

    /// <summary>An orphan parent (ntpd's orphan mode): a source that claims the orphan stratum with the loopback reference ID.</summary>
    public bool IsOrphanParent(int orphanStratum) => !IsRefclock && Stratum == orphanStratum && ReferenceId == ReferenceId.OrphanParent;

    /// <summary>A DENY or RSTR kiss stopped this association.</summary>
    public bool Stopped { get; private set; }

    /// <summary>The last kiss code received, shown by ntpq in place of the refid.</summary>
    public ReferenceId? LastKiss { get; private set; }

    /// <summary>Kiss-o'-death packets received from the source.</summary>
    public int KissCount { get; private set; }

    /// <summary>The last packet from the source was a kiss-o'-death (ntpq then shows its code as the refid).</summary>
    public bool Kissed { get; private set; }

    public bool IsRefclock => Mode == AssociationMode.Refclock;

    /// <summary>The undisciplined local clock: a fallback, whatever reference ID it was fudged to.</summary>
    public bool IsLocalClock => IsRefclock && Settings.RefclockType == LocalClockDriver.Type;

    /// <summary>The last sample taken, before filtering.</summary>
    public OnWireSample LastSample { get; private set; }

    /// <summary>
    /// The root distance λ (RFC 5905 §11.2): half the round trip to the primary source plus all dispersions and
    /// the jitter: the largest error this source's time can have.
    /// </summary>
    public double RootDistance(double now) =>
        Math.Max(NtpConstants.MinDistance, RootDelay + Filter.Delay) / 2
        + RootDispersion + Filter.Dispersion + NtpConstants.Phi * Math.Max(0, now - UpdateTime) + Filter.Jitter;

    /// <summary>Why the association cannot be selected now, or null when it can (RFC 5905 fit()).</summary>
    public string? Unfit(double now, int systemPoll)
    {
        if (Settings.NoSelect)
        {
            return "noselect";
        }

        if (Stopped)
        {
            return "stopped by kiss-o'-death";
        }

        if (Filter.Count == 0 || (Reach & 0x7) == 0)
        {
            return "unreachable";
        }

        if (Leap == LeapIndicator.Unsynchronized || Stratum >= NtpHeader.UnsynchronizedStratum)
        {
            return "unsynchronized";
        }

        if (RootDistance(now) > NtpConstants.MaxDistance + NtpConstants.Phi * Math.Pow(2, systemPoll))
        {
            return "distance exceeded";
        }

        if (IsSynchronizedToUs)
        {
            return "synchronization loop";
        }

        return null;
    }

    public bool IsDue(double now) => !Stopped && now >= NextPoll;

    /// <summary>The driver of a reference clock with a device; null for the local clock and network sources.</summary>
    public Refclocks.RefclockDriver? Driver { get; }

    /// <summary>A PPS peer: its last samples were disciplined by a pulse-per-second signal (ntpq's <c>o</c>).</summary>
    public bool IsPps => Driver is { PpsActive: true } && Reach != 0;

    /// <summary>The bare PPS driver, whose seconds someone else must number.</summary>
    public bool IsAtom => Driver is Refclocks.PpsDriver;

    /// <summary>
    /// Builds the next request into <paramref name="buffer"/> (48 octets) and schedules the poll after it. A client
    /// request carries a random transmit timestamp (RFC 9109): only we know when it really left, so an off-path
    /// attacker cannot forge a reply, and says no more about us than the server needs (leap, stratum, precision).
    /// Symmetric packets carry real timestamps and the whole system state, as the peer selects us by them.
    /// </summary>
    public int BuildRequest(Span<byte> buffer, NtpTimestamp realNow, ulong random, double now, int systemPoll, SystemState state)
    {
        bool burstPacket = _burstLeft > 0 || InVolley;
        if (InVolley)
        {
            // The volley: client requests 2 s apart until enough answers come or it is given up (see Age).
            _volleySent++;
        }
        else if (!burstPacket)
        {
            ShiftReach(now);
            // iburst: while the server is unreachable, each poll is a burst (RFC 5905 §13).
            if (Settings.Iburst && Reach == 0)
            {
                _burstLeft = BurstCount - 1;
            }
            else if (Settings.Burst && Reach != 0)
            {
                _burstLeft = BurstCount - 1;
            }
        }
        else
        {
            _burstLeft--;
        }

        // A manycast client's request is a beacon for servers, not a sample of the system's clock: it goes out every
        // 2^minpoll s while servers are wanted, every 2^maxpoll s once enough have been found.
        HostPoll = Mode == AssociationMode.ManycastClient ? (ManycastSatisfied ? Settings.MaxPoll : Settings.MinPoll) : Math.Clamp(systemPoll, Settings.MinPoll, Settings.MaxPoll);
        if (PeerPoll > HostPoll && LastKiss == KissCode.Rate)
        {
            HostPoll = Math.Min(PeerPoll, Settings.MaxPoll);
        }

        // Symmetric peers send at the faster of the two polls, so that each hears the other as often as it polls
        // (RFC 5905 §13 poll(): max(min(ppoll, hpoll), MINPOLL)); a passive association so follows its peer's rate.
        int exponent = Mode is AssociationMode.SymmetricActive or AssociationMode.SymmetricPassive && PeerPoll > 0
            ? Math.Max(Math.Min(PeerPoll, HostPoll), NtpConstants.MinPoll)
            : HostPoll;
        double interval = _burstLeft > 0 || InVolley ? BurstSpacing : Math.Pow(2, exponent) * (1 - (random % 1024) / 1024.0 / 32);
        NextPoll = now + interval;

        var header = new NtpHeader
        {
            Leap = state.Leap,
            Version = Settings.Version,
            Mode = SendsClientRequests ? NtpMode.Client : Mode == AssociationMode.SymmetricActive ? NtpMode.SymmetricActive : NtpMode.SymmetricPassive,
            Stratum = state.Stratum >= NtpHeader.UnsynchronizedStratum ? (byte)0 : state.Stratum,
            Poll = (sbyte)HostPoll,
            Precision = state.Precision,
        };

        if (SendsClientRequests)
        {
            _expectedOrigin = new NtpTimestamp(random | 1);
            header.TransmitTimestamp = _expectedOrigin;
        }
        else
        {
            header.ReferenceId = state.ReferenceId;
            header.RootDelay = NtpShort.FromSeconds(state.RootDelay);
            header.RootDispersion = NtpShort.FromSeconds(state.RootDispersion);
            header.ReferenceTimestamp = state.ReferenceTime;
            header.OriginTimestamp = _lastReceivedTransmit;
            header.ReceiveTimestamp = _lastReceivedAt;
            header.TransmitTimestamp = realNow;
            _expectedOrigin = realNow;
        }

        _sentAt = realNow;
        LastTransmit = header.TransmitTimestamp;
        Sent++;
        header.Write(buffer);
        return NtpHeader.Size;
    }

    /// <summary>A manycast client has found <c>tos minclock</c> servers: its requests slow to 2^maxpoll s.</summary>
    public bool ManycastSatisfied { get; set; }

    /// <summary>The poll a new passive association's peer announced in the packet that mobilized it.</summary>
    public void HeardPeerPoll(sbyte poll) => PeerPoll = poll;

    /// <summary>Whether the next due time sends a request (a broadcast client only while its volley lasts).</summary>
    public bool SendsAtPoll => Mode != AssociationMode.BroadcastClient || (InVolley && _volleySent < VolleyCount);

    /// <summary>
    /// A broadcast client's poll without a request: the reach register shifts, as at a poll, and a volley that got no
    /// answer to its last request is given up (the configured <c>broadcastdelay</c> then stands for the one-way delay).
    /// </summary>
    public void Age(double now)
    {
        InVolley = false;
        ShiftReach(now);
        HostPoll = Math.Max(PeerPoll, (sbyte)3);
        NextPoll = now + Math.Pow(2, HostPoll);
    }

    /// <summary>
    /// Our broadcast (RFC 5905 §9: mode 5): the system variables and the transmit timestamp, origin and receive zero;
    /// the next one 2^minpoll s later.
    /// </summary>
    /// <summary>A broadcast interval with nothing to send (we are not synchronized): the next one is 2^minpoll s away.</summary>
    public void Skip(double now)
    {
        HostPoll = Settings.MinPoll;
        NextPoll = now + Math.Pow(2, HostPoll);
    }

    public int BuildBroadcast(Span<byte> buffer, NtpTimestamp realNow, double now, SystemState state)
    {
        HostPoll = Settings.MinPoll;
        NextPoll = now + Math.Pow(2, HostPoll);
        var header = new NtpHeader
        {
            Leap = state.Leap,
            Version = Settings.Version,
            Mode = NtpMode.Broadcast,
            Stratum = state.Stratum >= NtpHeader.UnsynchronizedStratum ? (byte)0 : state.Stratum,
            Poll = (sbyte)HostPoll,
            Precision = state.Precision,
            RootDelay = NtpShort.FromSeconds(state.RootDelay),
            RootDispersion = NtpShort.FromSeconds(state.RootDispersion),
            ReferenceId = state.ReferenceId,
            ReferenceTimestamp = state.ReferenceTime,
            TransmitTimestamp = realNow,
        };
        LastTransmit = realNow;
        Sent++;
        header.Write(buffer);
        return NtpHeader.Size;
    }

    /// <summary>
    /// A broadcast from this client's server (ntpd's broadcast client): dropped when its transmit timestamp is not
    /// newer than the last one (a replay), held while the volley runs; otherwise a sample whose offset is the
    /// server's transmit time plus the one-way delay minus our arrival time, with twice that delay. A sample that
    /// jumps away from what the filter holds by more than three jitters is kept back until the next broadcast agrees
    /// with it, so that no one packet moves the clock.
    /// </summary>
    public ReplyOutcome ReceiveBroadcast(in NtpHeader header, NtpTimestamp arrival, double now, double systemPrecision, double assumedDelay)
    {
        Received++;
        if (!_lastBroadcast.IsZero && header.TransmitTimestamp.CompareTo(_lastBroadcast) <= 0)
        {
            Duplicates++;
            return ReplyOutcome.Bogus;
        }

        _lastBroadcast = header.TransmitTimestamp;
        Heard(header, arrival, now);
        // The server's interval, within our limits: a packet cannot put our next look at it out of reach.
        PeerPoll = (sbyte)Math.Clamp((int)header.Poll, NtpConstants.MinPoll - 1, Settings.MaxPoll);
        Unsuitability unsuitable = ServerReply.Judge(header, broadcast: true);
        if (unsuitable == Unsuitability.KissOfDeath)
        {
            return ReplyOutcome.Bogus;
        }

        TakeServerVariables(header);
        if (unsuitable != Unsuitability.None || InVolley)
        {
            return ReplyOutcome.Unsynchronized;
        }

        double oneWay = CalibratedDelay ?? assumedDelay;
        double offset = (header.TransmitTimestamp - arrival).ToSeconds() + oneWay;
        if (Filter.Count >= 4 && Math.Abs(offset - Filter.Offset) > Math.Max(3 * Filter.Jitter, 0.001))
        {
            bool confirmed = _pendingSpike is double pending && Math.Abs(offset - pending) <= Math.Max(3 * Filter.Jitter, 0.001);
            _pendingSpike = offset;
            if (!confirmed)
            {
                RecordEvent(PeerEvent.Popcorn);
                return ReplyOutcome.OldSample;
            }
        }

        _pendingSpike = null;
        LastSample = new OnWireSample(NtpDuration.FromSeconds(offset), NtpDuration.FromSeconds(2 * oneWay));
        double dispersion = Math.Pow(2, header.Precision) + systemPrecision + NtpConstants.Phi * 2 * oneWay;
        bool news = Filter.Add(LastSample, dispersion, now);
        return news ? ReplyOutcome.NewSample : ReplyOutcome.OldSample;
    }

    /// <summary>A new poll: the reach register shifts, and polls without an answer are counted.</summary>
    private void ShiftReach(double now)
    {
        if (Reach == 0)
        {
            Unreach++;
        }

        SilentPolls++;
        Reach <<= 1;
        if (Reach == 0 && _everReached && !_reportedUnreachable)
        {
            ReachChanged = now;
            RecordEvent(PeerEvent.Unreachable);
            _reportedUnreachable = true;
        }
    }

    /// <summary>A packet from the server was taken: the reach register and the timers say so.</summary>
    private void Heard(in NtpHeader header, NtpTimestamp arrival, double now)
    {
        LastOrigin = header.TransmitTimestamp;
        LastReceived = now;
        _lastArrival = arrival;
        if (Reach == 0)
        {
            ReachChanged = now;
            RecordEvent(PeerEvent.Reachable);
            _everReached = true;
            _reportedUnreachable = false;
        }

        Reach |= 1;
        Unreach = 0;
        SilentPolls = 0;
    }

    /// <summary>The server's system variables as its packet gives them (stratum 0 read as unsynchronized).</summary>
    private void TakeServerVariables(in NtpHeader header)
    {
        Leap = header.Leap;
        Stratum = header.Stratum == 0 ? NtpHeader.UnsynchronizedStratum : header.Stratum;
        Precision = header.Precision;
        RootDelay = header.RootDelay.ToSeconds();
        RootDispersion = header.RootDispersion.ToSeconds();
        ReferenceId = header.ReferenceId;
        ReferenceTime = header.ReferenceTimestamp;
    }

    /// <summary>T1 of the last client request as our clock read it (its packet carried a random transmit timestamp).</summary>
    public NtpTimestamp RequestSentAt => _sentAt;

    /// <summary>
    /// When the last client request really left (read by the host just before sendmsg): T1 of its exchange. The
    /// request carried a random transmit timestamp, so T1 need not be in the packet (RFC 9109).
    /// </summary>
    public void Left(NtpTimestamp sent)
    {
        if (SendsClientRequests)
        {
            _sentAt = sent;
        }
    }

    /// <summary>Processes a reply or symmetric packet from this association's address (RFC 5905 §8 and §9).</summary>
    public ReplyOutcome Receive(in NtpHeader header, NtpTimestamp arrival, double now, double systemPrecision)
    {
        Received++;
        if (Mode is AssociationMode.SymmetricActive or AssociationMode.SymmetricPassive)
        {
            if (header.TransmitTimestamp == _lastReceivedTransmit)
            {
                Duplicates++;
                return ReplyOutcome.Bogus;
            }

            _lastReceivedTransmit = header.TransmitTimestamp;
            _lastReceivedAt = arrival;
        }

        if (_expectedOrigin.IsZero || header.OriginTimestamp != _expectedOrigin)
        {
            BogusOrigin++;
            return ReplyOutcome.Bogus;
        }

        // One answer per request: a replay of the same reply is bogus from now on.
        _expectedOrigin = NtpTimestamp.Zero;
        Heard(header, arrival, now);
        if (Mode != AssociationMode.BroadcastClient)
        {
            // A broadcast client's peer poll is its server's broadcast interval, not the poll of the volley's replies.
            PeerPoll = header.Poll;
        }

        Unsuitability unsuitable = ServerReply.Judge(header);
        Kissed = unsuitable == Unsuitability.KissOfDeath;
        if (unsuitable == Unsuitability.KissOfDeath)
        {
            KissCount++;
            LastKiss = header.ReferenceId;
            if (KissCode.MeansStop(header.ReferenceId))
            {
                Stopped = true;
            }
            else if (KissCode.MeansSlowDown(header.ReferenceId))
            {
                HostPoll = Math.Min(Math.Max(HostPoll, header.Poll), Settings.MaxPoll);
                NextPoll = now + Math.Pow(2, HostPoll);
                _burstLeft = 0;
            }

            return ReplyOutcome.Kiss;
        }

        TakeServerVariables(header);
        switch (unsuitable)
        {
            case Unsuitability.StratumTooHigh or Unsuitability.Unsynchronized:
                return ReplyOutcome.Unsynchronized;
            case Unsuitability.ZeroTimestamps:
                return ReplyOutcome.Bogus;
        }

        OnWireSample sample = OnWireSample.FromTimestamps(_sentAt, header.ReceiveTimestamp, header.TransmitTimestamp, arrival);
        // A delay below the server's precision is noise: it cannot be measured that finely.
        double delay = Math.Max(sample.Delay.ToSeconds(), Math.Pow(2, header.Precision));
        LastSample = sample with { Delay = NtpDuration.FromSeconds(delay) };
        bool news = Filter.Add(LastSample, LastSample.Dispersion(header.Precision, systemPrecision), now);
        if (InVolley)
        {
            // The volley's answers measure the round trip: half the least is the one-way delay of the broadcasts.
            CalibratedDelay = Math.Min(CalibratedDelay ?? double.MaxValue, delay / 2);
            if (++_volleyAnswers >= VolleyAnswers)
            {
                InVolley = false;
                NextPoll = now + Math.Pow(2, Math.Max(PeerPoll, (sbyte)3));
            }
        }

        return news ? ReplyOutcome.NewSample : ReplyOutcome.OldSample;
    }

    /// <summary>A reference clock's poll: the local clock driver claims the system clock is right.</summary>
    public bool PollRefclock(double now, double systemPrecision, NtpTimestamp clockNow)
    {
        if (Driver is not null)
        {
            return PollDriver(now, systemPrecision, clockNow);
        }

        if (Reach == 0)
        {
            ReachChanged = now;
            RecordEvent(PeerEvent.Reachable);
        }

        Sent++;
        Received++;
        LastReceived = now;
        _lastArrival = clockNow;
        ReferenceTime = clockNow;
        PeerPoll = LocalClockDriver.PollExponent;
        Reach = (byte)((Reach << 1) | 1);
        Unreach = 0;
        HostPoll = LocalClockDriver.PollExponent;
        // Fill the filter at start (one sample a second), then poll at the driver's interval.
        NextPoll = now + (Filter.Count < NtpConstants.FilterStages ? 1 : Math.Pow(2, HostPoll));
        Precision = LocalClockDriver.DriverPrecision;
        return Filter.Add(new OnWireSample(NtpDuration.Zero, NtpDuration.Zero), NtpConstants.MinDispersion, now);
    }

    /// <summary>
    /// Whether a driver's association should poll now, ahead of its interval: until the reach register is full, as
    /// soon as a few samples wait (3 to 6, more as reach grows), so that a clock is usable within a minute of start
    /// as in ntpd.
    /// </summary>
    public bool WantsEarlyPoll => Driver is not null && Reach != 0xFF && Driver.Samples.Count >= Math.Clamp(System.Numerics.BitOperations.PopCount(Reach), 3, 6);

    /// <summary>
    /// A driver's poll: the median of its samples enters the clock filter as a sample with no delay and the
    /// samples' jitter for dispersion, with the driver's stratum, reference ID, leap and precision; no samples
    /// shift a zero into the reach register.
    /// </summary>
    private bool PollDriver(double now, double systemPrecision, NtpTimestamp clockNow)
    {
        Refclocks.RefclockDriver driver = Driver!;
        Sent++;
        HostPoll = Math.Clamp(Settings.MinPoll, NtpConstants.MinPoll, NtpConstants.MaxPoll);
        PeerPoll = (sbyte)HostPoll;
        NextPoll = now + Math.Pow(2, HostPoll);
        if (!driver.TryPoll(systemPrecision, out double offset, out double jitter) || driver.Leap == LeapIndicator.Unsynchronized)
        {
            Reach = (byte)(Reach << 1);
            if (Reach == 0 && _everReached && !_reportedUnreachable)
            {
                _reportedUnreachable = true;
                ReachChanged = now;
                RecordEvent(PeerEvent.Unreachable);
            }

            return false;
        }

        if (Reach == 0)
        {
            ReachChanged = now;
            RecordEvent(PeerEvent.Reachable);
        }

        _everReached = true;
        _reportedUnreachable = false;
        Received++;
        LastReceived = now;
        _lastArrival = clockNow;
        Reach = (byte)((Reach << 1) | 1);
        Unreach = 0;
        Leap = driver.Leap;
        Precision = driver.Precision;
        ReferenceTime = driver.ReferenceTime;
        LastSample = new OnWireSample(NtpDuration.FromSeconds(offset), NtpDuration.Zero);
        return Filter.Add(LastSample, Math.Max(jitter, Math.Pow(2, driver.Precision)), now);
    }
}
