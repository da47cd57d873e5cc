using System.Net;
using Meridian.Engine.Nts;
using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>Sends the engine's packets: the host through sockets, the simulator through its links.</summary>
public interface INtpTransport
{
    /// <param name="destination">Where to.</param>
    /// <param name="source">The local address the packet must leave from: for a reply, the address the request was
    /// sent to; for an association, our address as the peer reaches us; null when the route may choose.</param>
    /// <param name="packet">The encoded packet.</param>
    /// <param name="clientRequest">True for a client request, which goes out from a fresh random port (RFC 9109);
    /// false for server replies and symmetric packets, which go from port 123.</param>
    /// <returns>
    /// For a client request, the time read just before the packet left (after its socket was made), which is its T1:
    /// the request itself carries a random transmit timestamp, so nothing before the send adds to the offset; zero
    /// when the transport cannot say (the engine then uses the time it built the request at).
    /// </returns>
    NtpTimestamp Send(IPEndPoint destination, IPAddress? source, ReadOnlySpan<byte> packet, bool clientRequest);

    /// <summary>
    /// Sends to a broadcast address or a multicast group: on every interface that reaches it (the one whose subnet a
    /// broadcast address is; each multicast-capable one for a group), with <paramref name="ttl"/> as the hop limit.
    /// A client request (manycast) leaves from a fresh socket that takes answers from any server; its T1 is returned.
    /// </summary>
    NtpTimestamp SendToGroup(IPEndPoint group, ReadOnlySpan<byte> packet, int ttl, bool clientRequest);
}

/// <summary>Which clock discipline the engine runs.</summary>
public enum DisciplineKind
{
    Adaptive,
    Classic,
}

/// <summary>Everything the engine is configured with: values only, no calls back into the host.</summary>
public sealed record EngineSettings
{
    public DisciplineKind Discipline { get; init; } = DisciplineKind.Adaptive;

    public DisciplineSettings Limits { get; init; } = new();

    public SelectionSettings Selection { get; init; } = new();

    /// <summary>log2 of the system clock's read precision.</summary>
    public sbyte Precision { get; init; } = -20;

    /// <summary><c>enable kernel</c>: the classic discipline emulates the Linux kernel PLL, as ntpd does on Linux.</summary>
    public bool KernelDiscipline { get; init; } = true;

    /// <summary>Answer incoming symmetric active packets with an ephemeral passive association (not <c>nopeer</c>).</summary>
    public bool AcceptPeers { get; init; } = true;

    /// <summary>The system flags at start (<c>enable</c>/<c>disable</c>); <c>auth</c> and <c>monitor</c> change at run time.</summary>
    public SystemFlags Flags { get; init; } = SystemFlags.Default;

    /// <summary>What mode 6 reports as version, processor and system.</summary>
    public HostDescription Host { get; init; } = HostDescription.Unknown;

    /// <summary>The key that authenticates mode 6 writes and <c>:config</c> (<c>controlkey</c>); null refuses them all.</summary>
    public SymmetricKey? ControlKey { get; init; }

    /// <summary>The access list (<c>restrict</c>); by default loopback may query, other hosts may not.</summary>
    public RestrictList Access { get; init; } = RestrictList.Default;

    /// <summary>Rate limits and MRU list bounds (<c>discard</c>, <c>mru</c>).</summary>
    public DiscardSettings Discard { get; init; } = new();

    /// <summary><c>setvar</c>: extra system variables that mode 6 reads and an authenticated <c>writevar</c> changes.</summary>
    public IReadOnlyList<UserVariable> UserVariables { get; init; } = [];

    /// <summary><c>broadcastdelay</c>, seconds: reported by ntpdc's sysinfo.</summary>
    public double BroadcastDelay { get; init; } = 0.004;

    /// <summary>Datagrams the host may queue for the engine thread (ntpq's <c>iostats</c> receive buffers).</summary>
    public int QueueCapacity { get; init; } = 4096;

    /// <summary>Keys read from the keys file (ntpq's <c>authinfo</c>).</summary>
    public int StoredKeys { get; init; }

    /// <summary>A broadcast client measures the round trip with a volley first (<c>broadcastclient</c> without <c>novolley</c>).</summary>
    public bool BroadcastVolley { get; init; } = true;

    /// <summary><c>manycastserver</c>: client requests sent to a group are answered (while synchronized).</summary>
    public bool ManycastServer { get; init; }

    /// <summary>The keys <c>trustedkey</c> trusts: they sign and check association and client packets.</summary>
    public IReadOnlyList<SymmetricKey> TrustedKeys { get; init; } = [];

    /// <summary>
    /// <c>leapsmearinterval</c>, seconds (0: off): served time is smeared linearly over this long before a leap of
    /// the leap seconds file, and served packets never announce the leap.
    /// </summary>
    public double LeapSmearInterval { get; init; }
}

/// <summary>A <c>setvar</c> variable; <c>default</c> ones are listed by a plain <c>ntpq rv</c>.</summary>
public sealed record UserVariable(string Name, string Value, bool Default);

/// <summary>
/// The kernel's clock discipline as <c>ntp_adjtime</c> reports it, converted to seconds and parts per million
/// (ntpq's <c>kerninfo</c>).
/// </summary>
public sealed record KernelLoop(
    double Offset,
    double FrequencyPpm,
    double MaxError,
    double EstimatedError,
    int Status,
    long TimeConstant,
    double Precision,
    double TolerancePpm,
    double PpsFrequencyPpm,
    double PpsStability,
    double PpsJitter,
    int PpsShift,
    long PpsCalibrations,
    long PpsJitterExceeded,
    long PpsStabilityExceeded,
    long PpsCalibrationErrors);

/// <summary>System events of the mode 6 status word (RFC 9327 §2.4.1).</summary>
public enum SystemEvent
{
    Unspecified = 0,
    FrequencyNotSet = 1,
    FrequencySet = 2,
    SpikeDetect = 3,
    FrequencyMode = 4,
    ClockSync = 5,
    Restart = 6,
    PanicStop = 7,
    NoSystemPeer = 8,
    LeapArmed = 9,
    LeapDisarmed = 10,
    LeapEvent = 11,
    ClockStep = 12,
}

/// <summary>Something the engine wants logged, in ntpd's words where users look for them.</summary>
public sealed record EngineEvent(double Time, string Message);

/// <summary>
/// The NTP system process (RFC 5905 §11–§12) with time and I/O injected: packets and one-second ticks go in,
/// packets (through <see cref="INtpTransport"/>) and clock adjustments (through <see cref="IClockControl"/>) come
/// out. The same engine runs in the daemon and, many at a time, in the simulator.
/// </summary>
public sealed class NtpEngine
{
    /// <summary>Ephemeral passive associations are capped, so that mode 1 packets from many senders cannot grow memory.</summary>
    public const int MaxPassiveAssociations = 64;

    /// <summary>
    /// Polls without an answer after which an ephemeral (passive) association is demobilized (ntpd's NTP_UNREACH),
    /// so that peers that went away free their places.
    /// </summary>
    public const int PassiveUnreachLimit = 10;

    /// <summary>The poll range of a passive association, log2 s (ntpd's NTP_MINPOLL and NTP_MAXDPOLL).</summary>
    public const int PassiveMinPoll = 3;

    public const int PassiveMaxPoll = 10;

    private readonly EngineSettings _settings;
    private readonly IClock _clock;
    private readonly INtpTransport _transport;
    private readonly IRandomSource _random;
    private readonly List<Association> _associations = new();
    private readonly List<Pool> _pools = new();
    // Large enough for an NTS request with a full set of placeholders (RFC 8915 §5.7), not just a header and MAC.
    private readonly byte[] _buffer = new byte[Math.Max(ServerResponder.MaxReplyLength, Nts.NtsClientState.MaxRequestLength)];
    private readonly double _precisionSeconds;
    private double _lastClockUpdate = double.NegativeInfinity;
    private double _now;
    private double _lastSelect = double.NegativeInfinity;
    private int _nextId = 1;
    private int _feasibleStratum = NtpHeader.UnsynchronizedStratum;
    private double _lostSince = double.NaN;
    private int _flags;
    private bool _limitedInUse;
    private RestrictList _access = RestrictList.Default;
    private LeapIndicator _kernelLeap = LeapIndicator.NoWarning;
    private LeapIndicator _votedLeap = LeapIndicator.NoWarning;
    private int _kernelTai;
    private LeapTable? _leapTable;
    private double _smearCrossing = double.NaN;
    private long _smearDone;
    private double _lastPeerLimitLog = double.NegativeInfinity;
    private readonly Dictionary<IPAddress, double> _lastGroupAuthLog = new();
    private readonly Dictionary<Association, Pool> _manycastPools = new();
    private readonly Dictionary<Association, int> _manycastTtl = new();

    public NtpEngine(EngineSettings settings, IClock clock, IClockControl control, INtpTransport transport, IRandomSource random)
    {
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _transport = transport ?? throw new ArgumentNullException(nameof(transport));
        _random = random ?? throw new ArgumentNullException(nameof(random));
        ClockControl = control ?? throw new ArgumentNullException(nameof(control));
        _precisionSeconds = Math.Pow(2, settings.Precision);
        Discipline = settings.Discipline == DisciplineKind.Classic
            ? new ClassicDiscipline(control, settings.Limits, _precisionSeconds, settings.KernelDiscipline)
            : new AdaptiveDiscipline(control, settings.Limits, _precisionSeconds);
        Auth = new AuthCounters { StoredKeys = settings.StoredKeys };
        Keys = new KeyStore(Auth);
        Keys.Replace(settings.TrustedKeys);
        Responder = new ServerResponder(clock, SystemState.Unsynchronized(settings.Precision)) { KissPoll = settings.Discard.Average, Keys = Keys, HidesLeap = settings.LeapSmearInterval > 0 };
        Mru = new MruList(settings.Discard);
        Access = settings.Access;
        Io = new IoCounters { QueueCapacity = settings.QueueCapacity };
        Control = new ControlResponder(random, Auth, settings.UserVariables) { Key = settings.ControlKey };
        Flags = settings.Flags;
        RecordSystemEvent(SystemEvent.Restart);
    }

    /// <summary>Where the values an attacker must not guess come from (transmit timestamps, nonces, poll jitter).</summary>
    public IRandomSource Random => _random;

    /// <summary>Monotonic time of the first tick or packet: ntpq's uptime.</summary>
    public double StartTime { get; private set; } = double.NaN;

    /// <summary>Every remote address heard from, most recent first, bounded (ntpq's mrulist).</summary>
    public MruList Mru { get; }

    /// <summary>
    /// Clock updates so far: samples of the system peer that the discipline took (stepped, slewed or set the
    /// frequency; not ignored as spikes). <c>nts nocerttimecheck N</c> counts these, as chrony counts its clock updates.
    /// </summary>
    public long ClockUpdates { get; private set; }

    /// <summary>Seconds since the clock was last updated from a source (ntpdc's watchdog timer); NaN before the first update.</summary>
    public double SinceClockUpdate(double now) => double.IsNegativeInfinity(_lastClockUpdate) ? double.NaN : Math.Max(0, now - _lastClockUpdate);

    /// <summary>The host's socket counters, kept here so that mode 6 can report them.</summary>
    public IoCounters Io { get; }

    /// <summary>
    /// The access list in effect: the configured one, replaced when <c>:config</c> changes a restrict line. Read by
    /// the receive threads; <c>restrict source</c> follows the associations as they come and go.
    /// </summary>
    public RestrictList Access
    {
        get => Volatile.Read(ref _access);
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            Volatile.Write(ref _limitedInUse, value.Entries.Any(e => (e.Flags & AccessFlags.Limited) != 0));
            Volatile.Write(ref _access, value.WithSources(_associations.Where(a => a.Mode is AssociationMode.Client or AssociationMode.SymmetricActive).Select(a => a.Address.Address)));
        }
    }

    /// <summary>The trusted keys.</summary>
    public KeyStore Keys { get; }

    /// <summary>Key lookups and MAC work.</summary>
    public AuthCounters Auth { get; }

    public EngineSettings Settings => _settings;

    /// <summary>The system flags in effect; <c>:config</c> changes <c>auth</c> and <c>monitor</c> (read from receive threads too).</summary>
    public SystemFlags Flags
    {
        get => (SystemFlags)Volatile.Read(ref _flags);
        set => Volatile.Write(ref _flags, (int)value);
    }

    /// <summary>
    /// Remote addresses go into the MRU list: with <c>enable monitor</c>, and whenever a restrict line says
    /// <c>limited</c>, since rate limiting needs the list (as in ntpd).
    /// </summary>
    public bool Monitoring => (Flags & SystemFlags.Monitor) != 0 || Volatile.Read(ref _limitedInUse);

    /// <summary>The kernel's discipline state as the host last read it (ntpq's <c>kerninfo</c>); null where there is none.</summary>
    public KernelLoop? Kernel { get; set; }

    /// <summary>
    /// The leap seconds file's table (<c>leapfile</c>), replaced when the host reads the file again; null without
    /// one. While it is not expired its leaps outrank the sources' vote; the next tick applies a new table.
    /// </summary>
    public LeapTable? LeapTable
    {
        get => _leapTable;
        set
        {
            _leapTable = value;
            Responder.Smear = null;
            _smearCrossing = double.NaN;
        }
    }

    /// <summary>Authenticated <c>:config</c> requests waiting for the host: it applies each and calls <see cref="AnswerConfiguration"/>.</summary>
    public Queue<ConfigurationRequest> ConfigurationRequests { get; } = new();

    /// <summary>Sends the answer to a <c>:config</c> request that the host has applied.</summary>
    public void AnswerConfiguration(ConfigurationRequest request, string answer, double now)
    {
        ArgumentNullException.ThrowIfNull(request);
        foreach (byte[] fragment in Control.AnswerConfiguration(request, answer, Snapshot(now)))
        {
            _transport.Send(request.From, request.Local, fragment, clientRequest: false);
        }
    }

    /// <summary>What mode 6 may know of the engine now: system variables, counters, a copy of each association.</summary>
    public EngineSnapshot Snapshot(double now)
    {
        IClockDiscipline d = Discipline;
        return new EngineSnapshot
        {
            State = State,
            Host = _settings.Host,
            Now = now,
            Clock = _clock.Now(),
            Peers = _associations.ConvertAll(a => PeerSnapshot.Of(a, now)),
            SystemPeerId = SystemPeer?.Id ?? 0,
            SystemPeerIsRefclock = SystemPeer?.IsRefclock ?? false,
            SystemPeerIsLocalClock = SystemPeer?.IsLocalClock ?? false,
            PollExponent = d.PollExponent,
            Frequency = d.Frequency,
            ClockJitter = d.Jitter,
            Wander = d.Wander,
            Offset = SystemOffset,
            SystemJitter = SystemJitter,
            EventCount = SystemEventCount,
            LastEvent = LastSystemEvent,
            Uptime = double.IsNaN(StartTime) ? 0 : Math.Max(0, now - StartTime),
            SinceClockUpdate = SinceClockUpdate(now),
            Flags = Flags,
            BroadcastDelay = _settings.BroadcastDelay,
            Kernel = Kernel,
            Leaps = _leapTable,
            LeapSmearInterval = _settings.LeapSmearInterval,
            LeapSmearOffset = Responder.Smear?.OffsetAt(_clock.Now()) ?? 0,
            Packets = Responder.Counters,
            Io = Io,
            Auth = Auth,
            Mru = Mru,
            Access = Access,
            Nts = Responder.NtsCounters,
            NtsKe = NtsKeCounts?.Invoke() ?? default,
        };
    }

    /// <summary>
    /// The NTS-KE counters, server and client, which live with the host's TLS code: the daemon sets this so that
    /// mode 6 can report them with the NTP side's (<see cref="EngineSnapshot.NtsKe"/>); null reports zeros.
    /// </summary>
    public Func<NtsKeCounts>? NtsKeCounts { get; set; }

    /// <summary>Answers mode 6 queries (ntpq).</summary>
    public ControlResponder Control { get; }

    /// <summary>Mode 6 system event counter (saturates at 15) and the last event code.</summary>
    public int SystemEventCount { get; private set; }

    public int LastSystemEvent { get; private set; }

    private void RecordSystemEvent(SystemEvent e)
    {
        SystemEventCount = Math.Min(SystemEventCount + 1, 15);
        LastSystemEvent = (int)e;
        if (Statistics.Wants(StatisticsFile.ProtoStats))
        {
            NtpTimestamp now = _clock.Now();
            Statistics.Write(StatisticsFile.ProtoStats, now, StatisticsLine.Proto(now, null, ControlStatus.System(State.Leap, 0, SystemEventCount, LastSystemEvent), (int)e, SystemEventNames[(int)e]));
        }
    }

    private static readonly string[] SystemEventNames =
    [
        "unspecified", "freq_not_set", "freq_set", "spike_detect", "freq_mode", "clock_sync", "restart", "panic_stop",
        "no_sys_peer", "leap_armed", "leap_disarmed", "leap_event", "clock_step",
    ];

    private static readonly string[] PeerEventNames =
    [
        "unspecified", "mobilize", "demobilize", "unreachable", "reachable", "restart", "no_reply", "rate_exceeded",
        "access_denied", "leap_armed", "sys_peer", "clock_event", "bad_auth", "popcorn",
    ];

    private void RecordPeerEvent(Association a, PeerEvent e)
    {
        if (Statistics.Wants(StatisticsFile.ProtoStats))
        {
            NtpTimestamp now = _clock.Now();
            Statistics.Write(StatisticsFile.ProtoStats, now, StatisticsLine.Proto(now, a.Address.Address, PeerSnapshot.Of(a, _now).Status, (int)e, PeerEventNames[(int)e]));
        }
    }

    /// <summary>peerstats: a sample entered the association's clock filter (ntpd writes one line per sample).</summary>
    private void RecordPeerStats(Association a)
    {
        if (Statistics.Wants(StatisticsFile.PeerStats) && a.Filter.Count > 0)
        {
            NtpTimestamp now = _clock.Now();
            PeerSnapshot p = PeerSnapshot.Of(a, _now);
            Statistics.Write(StatisticsFile.PeerStats, now, StatisticsLine.Peer(now, a.Address.Address, p.Status, p.Offset, p.Delay, p.Dispersion, p.Jitter));
        }
    }

    public IClockDiscipline Discipline { get; }

    public IClockControl ClockControl { get; }

    /// <summary>Answers clients with the current system state.</summary>
    public ServerResponder Responder { get; }

    public SystemState State => Responder.State;

    public IReadOnlyList<Association> Associations => _associations;

    public Association? SystemPeer { get; private set; }

    /// <summary>The combined offset of the last clock update, seconds.</summary>
    public double SystemOffset { get; private set; }

    /// <summary>The system jitter of the last clock update, seconds.</summary>
    public double SystemJitter { get; private set; }

    /// <summary>
    /// In orphan mode with no source for <c>orphanwait</c>: the host serves its own clock at the orphan stratum with
    /// reference ID 127.0.0.1 so that the subnet keeps one time.
    /// </summary>
    public bool IsOrphanParent { get; private set; }

    /// <summary>Set when an offset exceeded the panic threshold: the daemon must exit.</summary>
    public bool Panicked { get; private set; }

    /// <summary>Pools that want addresses: the host resolves each name and answers with <see cref="PoolResolved"/>.</summary>
    public Queue<Pool> ResolveRequests { get; } = new();

    public IReadOnlyList<Pool> Pools => _pools;

    /// <summary>
    /// NTS associations that cannot send (<see cref="Association.NeedsKeyExchange"/>: no keys yet, cookies used up,
    /// or a NAK): the host runs NTS-KE for each and answers with <see cref="SetNts"/>. Each episode is queued once.
    /// </summary>
    public Queue<Association> KeyExchangeRequests { get; } = new();

    /// <summary>
    /// Hands an NTS association the result of its NTS-KE (RFC 8915 §4): keys and cookies, and, when NTS-KE named an
    /// NTP server other than its own host, that server's address as the host resolved it. The next poll goes out at
    /// the next tick. Call on the engine's thread, as for <see cref="Receive"/>.
    /// </summary>
    public void SetNts(Association association, Nts.NtsClientState state, IPEndPoint? ntpServer = null)
    {
        ArgumentNullException.ThrowIfNull(association);
        ArgumentNullException.ThrowIfNull(state);
        if (!association.Settings.Nts || association.Mode != AssociationMode.Client)
        {
            // RFC 8915 protects client-server mode only.
            throw new ArgumentException("the association is not an NTS client association", nameof(association));
        }

        association.SetNts(state, _now, ntpServer);
        Log($"{Describe(association)}: NTS keys ({state.CookieCount} cookies, AEAD {state.AeadId})");
    }

    /// <summary>
    /// The host's word that an NTS-KE for <paramref name="association"/> failed, and why: kept for mode 6
    /// (<c>ntskefail</c>), counted with the association. The host retries on its own schedule.
    /// </summary>
    public void KeyExchangeFailed(Association association, string reason)
    {
        ArgumentNullException.ThrowIfNull(association);
        ArgumentNullException.ThrowIfNull(reason);
        association.KeyExchangeFailed(reason);
    }

    /// <summary>Log lines produced since the caller last drained them.</summary>
    public Queue<EngineEvent> Events { get; } = new();

    /// <summary>Where statistics lines go (<c>statistics</c>, <c>filegen</c>); none by default.</summary>
    public IStatisticsSink Statistics { get; set; } = NoStatistics.Instance;

    /// <summary>The devices reference clock drivers read (the host's in the daemon, fakes in a simulation).</summary>
    public Refclocks.IRefclockDevices Devices { get; set; } = Refclocks.NoRefclockDevices.Instance;

    public Association Add(AssociationSettings settings)
    {
        var association = new Association(_nextId++, settings, _now, _precisionSeconds) { EventRecorded = RecordPeerEvent };
        if (association.Driver is { } driver)
        {
            driver.Log = Log;
        }

        _associations.Add(association);
        Discipline.SetPollLimits(MinPoll(), MaxPoll());
        Access = _access;
        return association;
    }

    /// <summary>Adds a <c>pool</c>: its addresses are asked for at the next tick.</summary>
    public Pool AddPool(string name, AssociationSettings template)
    {
        var pool = new Pool(name, template);
        _pools.Add(pool);
        return pool;
    }

    /// <summary>The host's answer to a resolve request: addresses in the order the resolver gave them (none if it failed).</summary>
    public void PoolResolved(Pool pool, IReadOnlyList<IPAddress> addresses, double now)
    {
        _now = now;
        int added = 0;
        foreach (IPAddress address in addresses)
        {
            if (PoolRoom() <= 0)
            {
                break;
            }

            if (pool.Quarantined(address, now) || _associations.Any(a => a.Address.Address.Equals(address)))
            {
                continue;
            }

            // A pool member is named by its address, not by the pool's name (the pool itself keeps that).
            Add(pool.Template with { Address = new IPEndPoint(address, pool.Template.Address.Port), Pool = pool, Name = null });
            Log($"pool {pool.Name}: added {address}");
            added++;
        }

        pool.Answered(added > 0, now);
    }

    /// <summary>
    /// The MAC check for a packet of a known association: with <c>key N</c> configured, only packets signed with key
    /// N count (a crypto-NAK or a bad MAC is a bad_auth event); without, a packet whose MAC fails is dropped too, and
    /// <c>notrust</c> drops unauthenticated ones.
    /// </summary>
    private bool Authentic(Association association, AuthOutcome auth, SymmetricKey? key, AccessFlags access)
    {
        bool wanted = association.Settings.Key is uint id ? auth == AuthOutcome.Authentic && key!.Id == id
            : auth != AuthOutcome.Bad && auth != AuthOutcome.CryptoNak && ((access & AccessFlags.NoTrust) == 0 || auth == AuthOutcome.Authentic);
        association.Authentic = wanted && auth == AuthOutcome.Authentic;
        if (!wanted)
        {
            Responder.Counters.CountDropped(DropReason.BadAuth);
            association.CountBadAuth();
            if (auth == AuthOutcome.CryptoNak)
            {
                Log($"{Describe(association)}: crypto-NAK: the server could not verify our MAC (key {association.Settings.Key})");
            }
        }

        return wanted;
    }

    /// <summary>
    /// An NTS association's check of a reply before the association sees it (RFC 8915 §5.7): only a reply with our
    /// Unique Identifier whose authenticator opens counts; a NAK with our identifier is no sample and makes the
    /// association re-key unless an authentic reply follows before the next poll. Everything else is dropped and
    /// counted, so a forger cannot move the clock or the reach register.
    /// </summary>
    private bool CheckNts(Association association, ReadOnlySpan<byte> datagram, IPEndPoint from)
    {
        NtsReplyCheck check = association.NtsState?.CheckReply(datagram) ?? NtsReplyCheck.Bad;
        association.Authentic = check == NtsReplyCheck.Ok;
        if (check == NtsReplyCheck.Ok)
        {
            Responder.NtsCounters.CountClientGood();
        }
        else
        {
            Responder.NtsCounters.CountClientBad();
        }

        switch (check)
        {
            case NtsReplyCheck.Ok:
                return true;
            case NtsReplyCheck.Nak:
                association.CountNtsNak();
                Log($"{Describe(association)}: NTS NAK from {from.Address}: the server could not use our cookie; new NTS-KE unless an authentic reply follows");
                return false;
            default:
                Responder.Counters.CountDropped(DropReason.BadAuth);
                association.CountBogusNts();
                return false;
        }
    }

    /// <summary>
    /// The serving path for what the receive threads answer themselves (client requests, and what the responder
    /// counts and drops): the sender's access flags, the MRU list's rate verdict, then the responder. Thread-safe
    /// and allocation-free for a known client; returns the reply's length in <paramref name="reply"/>, or 0.
    /// </summary>
    public int Serve(ReadOnlySpan<byte> datagram, MruKey source, NtpTimestamp arrival, Span<byte> reply, bool toGroup = false)
    {
        if (toGroup && !ServesManycast(datagram))
        {
            Responder.Counters.CountDropped(DropReason.Declined);
            return 0;
        }

        bool monitoring = Monitoring;
        RateVerdict rate = monitoring && datagram.Length > 0 ? Mru.Touch(source, arrival, (byte)(datagram[0] & 0x3F)) : RateVerdict.Ok;
        int length = Responder.Respond(datagram, arrival, reply, Access.Lookup(source), rate, out bool kissed);
        if (kissed && monitoring)
        {
            // The next kiss to this address waits for the kiss interval.
            Mru.Kissed(source, arrival);
        }

        return length;
    }

    /// <summary>
    /// A request to a group is a manycast client's: answered only as a manycast server that has time to give, and
    /// only to a client that is unsynchronized or below us (ntpd's rule: a server never draws a better client down).
    /// </summary>
    private bool ServesManycast(ReadOnlySpan<byte> datagram)
    {
        if (!_settings.ManycastServer || !State.IsSynchronized || datagram.Length < NtpHeader.Size || (datagram[0] & 7) != (int)NtpMode.Client)
        {
            return false;
        }

        byte theirs = datagram[1];
        return theirs == 0 || theirs > State.Stratum;
    }

    /// <summary>
    /// Handles a datagram received at <paramref name="arrival"/> (system clock) and monotonic <paramref name="now"/>,
    /// sent to our address <paramref name="local"/> (replies leave from it; null if unknown).
    /// </summary>
    public void Receive(ReadOnlySpan<byte> datagram, IPEndPoint from, NtpTimestamp arrival, double now, IPAddress? local = null, IPAddress? group = null)
    {
        ArgumentNullException.ThrowIfNull(from);
        _now = now;
        if (!NtpHeader.TryPeekModeAndVersion(datagram, out NtpMode mode, out _))
        {
            return;
        }

        MruKey source = MruKey.From(from);
        if (mode is NtpMode.Client or NtpMode.Private or NtpMode.Reserved)
        {
            Span<byte> reply = stackalloc byte[ServerResponder.MaxReplyLength];
            int length = Serve(datagram, source, arrival, reply, toGroup: group is not null);
            if (length > 0)
            {
                _transport.Send(from, local, reply[..length], clientRequest: false);
            }

            return;
        }

        if ((group is null) == (mode == NtpMode.Broadcast))
        {
            // A broadcast comes to a group or broadcast address, and nothing else may: a mode 6 query or a symmetric
            // packet sent to a group would get an answer from every member (amplification), and a mode 5 packet
            // sent to our own address is no broadcast (it could come from anywhere and aim our volley anywhere).
            Responder.Counters.CountDropped(DropReason.Declined);
            return;
        }

        bool monitoring = Monitoring;
        if (monitoring)
        {
            Mru.Touch(source, arrival, (byte)(datagram[0] & 0x3F));
        }

        AccessFlags access = Access.Lookup(source);
        if ((access & AccessFlags.Ignore) != 0)
        {
            Responder.Counters.CountRestricted();
            return;
        }

        if (mode == NtpMode.Control)
        {
            ReceiveControl(datagram, from, source, arrival, now, local, access, monitoring);
            return;
        }

        if (NtpPacket.TryParse(datagram, out NtpPacket packet) != PacketStatus.Ok)
        {
            return;
        }

        NtpHeader header = packet.Header;
        AuthOutcome auth = Keys.Check(packet, out SymmetricKey? macKey);
        if (mode == NtpMode.Broadcast)
        {
            ReceiveBroadcast(header, from, arrival, now, local, group, access, auth, macKey);
            return;
        }

        Association? association = Find(from, mode);
        if (association is null && mode == NtpMode.Server && Manycast(header) is Association prototype)
        {
            MobilizeManycast(prototype, from, auth, macKey, access);
            return;
        }

        if (association is null && mode == NtpMode.SymmetricActive
            && ((access & (AccessFlags.NoPeer | AccessFlags.NoServe)) != 0 || (((access & AccessFlags.NoTrust) != 0 || (Flags & SystemFlags.Auth) != 0) && auth != AuthOutcome.Authentic)))
        {
            Responder.Counters.CountRestricted();
            return;
        }

        if (association is not null && association.Settings.Nts)
        {
            if (!CheckNts(association, datagram, from))
            {
                return;
            }
        }
        else if (association is not null && !Authentic(association, auth, macKey, access))
        {
            return;
        }

        if (association is null && mode == NtpMode.SymmetricActive && _settings.AcceptPeers)
        {
            association = MobilizePassive(from, header, auth, macKey, now);
        }

        if (association is null)
        {
            return;
        }

        if (local is not null)
        {
            association.LocalAddress = local;
        }

        ReplyOutcome outcome = association.Receive(header, arrival, now, _precisionSeconds);
        if (outcome != ReplyOutcome.Bogus && Statistics.Wants(StatisticsFile.RawStats))
        {
            // T1 is our clock's reading when the request left, not the random transmit timestamp the reply echoes
            // (RFC 9109), so the four timestamps of a line give the offset and delay.
            NtpTimestamp stamp = _clock.Now();
            NtpTimestamp origin = association.SendsClientRequests && !association.RequestSentAt.IsZero ? association.RequestSentAt : header.OriginTimestamp;
            Statistics.Write(StatisticsFile.RawStats, stamp, StatisticsLine.Raw(stamp, from.Address, local, origin, header.ReceiveTimestamp, header.TransmitTimestamp, arrival, header));
        }

        if (outcome is ReplyOutcome.NewSample or ReplyOutcome.OldSample)
        {
            RecordPeerStats(association);
        }

        switch (outcome)
        {
            case ReplyOutcome.Kiss:
                string code = header.ReferenceId.ToAscii();
                string what = association.Stopped ? "association stopped"
                    : KissCode.MeansSlowDown(header.ReferenceId) ? $"poll raised to {Math.Pow(2, association.HostPoll)} s"
                    : "ignored";
                Log($"{from.Address}: kiss code {code} ({KissCode.Describe(header.ReferenceId)}); {what}");
                if (association.KissCount == 2)
                {
                    // Seed 003: a second kiss means the server is rate limiting us; say so once, for later troubleshooting.
                    Log($"{from.Address}: more than one kiss-o'-death from this server: it is rate limiting this client");
                }

                break;
            case ReplyOutcome.NewSample:
                Select(now, association);
                association.FalsetickerRun = association.Tally == TallyCode.Falseticker ? association.FalsetickerRun + 1 : 0;
                break;
            case ReplyOutcome.OldSample:
                if (association == SystemPeer && Discipline.WantsEverySample)
                {
                    Select(now, association);
                }

                break;
        }
    }

    /// <summary>The once-a-second timer: discipline, polls, and reselection.</summary>
    public void Tick(double now)
    {
        _now = now;
        if (double.IsNaN(StartTime))
        {
            StartTime = now;
        }

        Discipline.Tick(now);
        bool news = false;
        foreach (Association association in _associations)
        {
            if (association.Driver is { } driver)
            {
                driver.Second(Devices, now, _clock.Now(), State.IsSynchronized);
                if (association.IsDue(now) || association.WantsEarlyPoll)
                {
                    long received = association.Received;
                    news |= association.PollRefclock(now, _precisionSeconds, _clock.Now());
                    if (association.Received != received)
                    {
                        RecordPeerStats(association);
                    }

                    if (driver.Timecode.Length > 0 && Statistics.Wants(StatisticsFile.ClockStats))
                    {
                        NtpTimestamp stamp = _clock.Now();
                        Statistics.Write(StatisticsFile.ClockStats, stamp, StatisticsLine.Clock(stamp, association.Address.Address, driver.Timecode));
                    }
                }

                continue;
            }

            if (!association.IsDue(now))
            {
                continue;
            }

            if (association.IsRefclock)
            {
                news |= association.PollRefclock(now, _precisionSeconds, _clock.Now());
                RecordPeerStats(association);
                continue;
            }

            if (association.Mode == AssociationMode.Broadcast)
            {
                SendBroadcast(association, now);
                continue;
            }

            if (!association.SendsAtPoll)
            {
                // A broadcast client between its server's broadcasts: the reach register ages, nothing is sent.
                association.Age(now);
                continue;
            }

            if (association.Mode == AssociationMode.ManycastClient)
            {
                association.ManycastSatisfied = ManycastFound(association) >= _settings.Selection.MinClock;
            }

            if (association.Settings.Nts && association.NeedsKeyExchange)
            {
                // RFC 8915 §5.7: no request without a fresh cookie and keys; the host is asked for NTS-KE once.
                association.WaitForKeys(now, Discipline.PollExponent);
                if (association.TakeKeyExchangeRequest())
                {
                    KeyExchangeRequests.Enqueue(association);
                    Log($"{Describe(association)}: NTS-KE needed ({(association.NtsState is null ? "no keys" : association.NtsState.NakReceived ? "NTS NAK" : "no cookies left")})");
                }

                continue;
            }

            int length = association.BuildRequest(_buffer, _clock.Now(), _random.NextUInt64(), now, Discipline.PollExponent, State);
            if (association.NtsState is { } nts)
            {
                length = nts.WriteRequestFields(_buffer, length, _random);
                Responder.NtsCounters.CountClientSent();
            }
            else if (association.Settings.Key is uint keyId)
            {
                if (Keys.Find(keyId) is SymmetricKey key)
                {
                    length = Keys.Sign(key, _buffer, length);
                }
                else if (!association.ReportedMissingKey)
                {
                    association.ReportedMissingKey = true;
                    Log($"{Describe(association)}: key {keyId} is not a trusted key of the keys file; its replies cannot be authenticated");
                }
            }

            bool client = association.SendsClientRequests;
            NtpTimestamp left = association.Mode == AssociationMode.ManycastClient
                ? _transport.SendToGroup(association.Address, _buffer.AsSpan(0, length), ManycastTtl(association), clientRequest: true)
                : _transport.Send(association.Address, association.LocalAddress, _buffer.AsSpan(0, length), client);
            if (client && !left.IsZero)
            {
                association.Left(left);
            }
        }

        if (news || now - _lastSelect >= 8)
        {
            Select(now);
        }

        TendPools(now);
        DemobilizeUnreachablePeers();
        TendLeapTable(now);
        ArmLeap();
        if (double.IsNaN(_lastSysStats))
        {
            // The first hour starts with the first tick.
            _lastSysStats = now;
            _sysStatsBase = SysStatsCounts();
        }
        else if (now - _lastSysStats >= 3600)
        {
            RecordSysStats(now);
        }
    }

    private double _lastSysStats = double.NaN;
    private long[] _sysStatsBase = [];

    /// <summary>
    /// sysstats, once an hour as ntpd writes it: each line counts the hour since the previous one (ntpd clears its
    /// counters after each line), so the lines can be summed or plotted without differencing. The counters that
    /// <c>ntpq -c sysstats</c> shows are not cleared.
    /// </summary>
    private void RecordSysStats(double now)
    {
        long[] counts = SysStatsCounts();
        long[] hour = new long[counts.Length];
        for (int i = 0; i < counts.Length; i++)
        {
            hour[i] = counts[i] - _sysStatsBase[i];
        }

        long seconds = (long)Math.Round(now - _lastSysStats);
        _lastSysStats = now;
        _sysStatsBase = counts;
        if (Statistics.Wants(StatisticsFile.SysStats))
        {
            NtpTimestamp stamp = _clock.Now();
            Statistics.Write(StatisticsFile.SysStats, stamp, StatisticsLine.Sys(
                stamp, seconds, hour[0], hour[1], hour[2], hour[3], hour[4], hour[5], hour[6], hour[7], hour[8], hour[9]));
        }
    }

    /// <summary>The counters of a sysstats line, in its order (received ... kisses sent), since start.</summary>
    private long[] SysStatsCounts()
    {
        PacketCounters c = Responder.Counters;
        long received = c.Received + c.ControlQueries;
        return
        [
            received, received - c.TotalDropped, c.CurrentVersion, c.OlderVersion, c.Dropped(DropReason.Restricted),
            c.Dropped(DropReason.BadLength) + c.Dropped(DropReason.BadVersion), c.Dropped(DropReason.BadAuth),
            c.Dropped(DropReason.Declined) + c.Dropped(DropReason.Mode7) + c.Dropped(DropReason.PeerLimit),
            c.Dropped(DropReason.Limited) + c.Dropped(DropReason.ControlLimited), c.Kisses,
        ];
    }

    /// <summary>
    /// Mode 6. <c>noquery</c> gets no answer at all. Other answers to a remote host that did not authenticate are
    /// paid from the address's octet budget in the MRU list, so that a flood of small queries (spoofed, say) draws
    /// back less than it sent.
    /// </summary>
    private void ReceiveControl(ReadOnlySpan<byte> datagram, IPEndPoint from, MruKey source, NtpTimestamp arrival, double now, IPAddress? local, AccessFlags access, bool monitoring)
    {
        if ((access & AccessFlags.NoQuery) != 0)
        {
            // noquery: no answer at all, so mode 6 cannot be used for amplification.
            Responder.Counters.CountRestricted();
            return;
        }

        Responder.Counters.CountControl();
        ControlAnswer answer = Control.Respond(datagram, Snapshot(now), from, local, mayModify: (access & AccessFlags.NoModify) == 0);
        if (answer.Configuration is ConfigurationRequest configuration)
        {
            ConfigurationRequests.Enqueue(configuration);
            return;
        }

        // Loopback, an authenticated query, and READ_MRU (whose nonce proves the asker receives at its address) are
        // not limited; the budget lives in the MRU list, which mode 6 to remote hosts keeps even without monitoring.
        if (!IPAddress.IsLoopback(from.Address) && !answer.Authenticated && !answer.AddressVerified && answer.Fragments.Count > 0)
        {
            if (!monitoring)
            {
                Mru.Touch(source, arrival, (byte)(datagram[0] & 0x3F));
            }

            if (!Mru.TrySpendControl(source, arrival, answer.Octets))
            {
                Responder.Counters.CountDropped(DropReason.ControlLimited);
                return;
            }
        }

        foreach (byte[] fragment in answer.Fragments)
        {
            _transport.Send(from, local, fragment, clientRequest: false);
        }
    }

    /// <summary>
    /// A symmetric active packet from a peer we have no association with (RFC 5905 §9.1): a passive association that
    /// polls at the peer's rate (its first poll is our minpoll, as in ntpd), up to <see cref="MaxPassiveAssociations"/>;
    /// beyond that the peer is refused and counted.
    /// </summary>
    private Association? MobilizePassive(IPEndPoint from, in NtpHeader header, AuthOutcome auth, SymmetricKey? macKey, double now)
    {
        if (_associations.Count(a => a.Mode is AssociationMode.SymmetricPassive or AssociationMode.BroadcastClient) >= MaxPassiveAssociations)
        {
            Responder.Counters.CountDropped(DropReason.PeerLimit);
            if (now - _lastPeerLimitLog >= 3600)
            {
                _lastPeerLimitLog = now;
                Log($"{from.Address}: symmetric peer refused: {MaxPassiveAssociations} passive associations already ({Responder.Counters.Dropped(DropReason.PeerLimit)} refused so far)");
            }

            return null;
        }

        int minPoll = Math.Clamp((int)header.Poll, PassiveMinPoll, PassiveMaxPoll);
        Association association = Add(new AssociationSettings(from)
        {
            Mode = AssociationMode.SymmetricPassive,
            Key = macKey?.Id,
            MinPoll = minPoll,
            MaxPoll = PassiveMaxPoll,
            Version = Math.Clamp(header.Version, (byte)1, (byte)4),
        });
        association.Authentic = auth == AuthOutcome.Authentic;
        // The active peer's poll, so that we send at its rate from the start (RFC 5905 §13): its first packet cannot
        // be a sample (it answers nothing of ours), and without it we would wait out our own, slower poll.
        association.HeardPeerPoll(header.Poll);
        Log($"{from.Address}: mobilized a passive association for a symmetric peer (poll {1 << minPoll} s)");
        return association;
    }

    /// <summary>
    /// Our broadcast (<c>broadcast ADDR</c>): the system state in a mode 5 packet to the address, every 2^minpoll s,
    /// signed with the line's key; only while we have time to give (an unsynchronized server broadcasts nothing).
    /// </summary>
    private void SendBroadcast(Association association, double now)
    {
        if (!State.IsSynchronized)
        {
            association.Skip(now);
            return;
        }

        int length = association.BuildBroadcast(_buffer, _clock.Now(), now, State);

        if (association.Settings.Key is uint keyId)
        {
            if (Keys.Find(keyId) is not SymmetricKey key)
            {
                if (!association.ReportedMissingKey)
                {
                    association.ReportedMissingKey = true;
                    Log($"broadcast {association.Address.Address}: key {keyId} is not a trusted key of the keys file; nothing is broadcast");
                }

                return;
            }

            // The transmit timestamp is read as late as it can be: just before the MAC over it.
            NtpHeader.PatchTransmitTimestamp(_buffer, _clock.Now());
            length = Keys.Sign(key, _buffer, length);
        }
        else
        {
            NtpHeader.PatchTransmitTimestamp(_buffer, _clock.Now());
        }

        _transport.SendToGroup(association.Address, _buffer.AsSpan(0, length), association.Settings.Ttl, clientRequest: false);
    }

    /// <summary>
    /// A mode 5 packet (ntpd's broadcast client). Heard only with <c>broadcastclient</c>/<c>multicastclient</c>; under
    /// <c>enable auth</c> (and for <c>notrust</c> addresses) only when signed with a trusted key — otherwise ignored,
    /// counted and logged once an hour with what to configure. A server not heard before gets a broadcast client
    /// association (ephemeral, under the same cap as passive peers), which measures the delay with a volley first.
    /// </summary>
    private void ReceiveBroadcast(in NtpHeader header, IPEndPoint from, NtpTimestamp arrival, double now, IPAddress? local, IPAddress? group, AccessFlags access, AuthOutcome auth, SymmetricKey? macKey)
    {
        if ((Flags & SystemFlags.BroadcastClient) == 0 || (local is not null && from.Address.Equals(local)))
        {
            // Not a broadcast client, or our own broadcast heard back.
            Responder.Counters.CountDropped(DropReason.Declined);
            return;
        }

        Association? association = _associations.Find(a => a.Mode == AssociationMode.BroadcastClient && a.Address.Address.Equals(from.Address));
        bool authRequired = (Flags & SystemFlags.Auth) != 0 || (access & AccessFlags.NoTrust) != 0 || association?.Settings.Key is not null;
        bool wrongKey = association?.Settings.Key is uint keyId && macKey?.Id != keyId;
        if (auth is AuthOutcome.Bad or AuthOutcome.CryptoNak || (authRequired && auth != AuthOutcome.Authentic) || wrongKey)
        {
            Responder.Counters.CountDropped(DropReason.BadAuth);
            association?.CountBadAuth();
            if (MayLogAuthFailure(from.Address, now))
            {
                Log(wrongKey && auth == AuthOutcome.Authentic
                    ? $"broadcast from {from.Address} ignored: signed with key {macKey!.Id}, not with key {association!.Settings.Key} as before"
                    : auth == AuthOutcome.Bad
                    ? $"broadcast from {from.Address} ignored: its MAC does not verify with our trusted keys"
                    : $"broadcast from {from.Address} ignored: not authenticated, and 'enable auth' requires it; give the server 'broadcast ... key N' and this host 'keys'/'trustedkey N' with the same key, or 'disable auth' to trust the network (seed 000)");
            }

            return;
        }

        if (association is null)
        {
            if ((access & (AccessFlags.NoPeer | AccessFlags.NoServe)) != 0)
            {
                Responder.Counters.CountRestricted();
                return;
            }

            if (_associations.Count(a => a.Mode is AssociationMode.SymmetricPassive or AssociationMode.BroadcastClient) >= MaxPassiveAssociations)
            {
                Responder.Counters.CountDropped(DropReason.PeerLimit);
                return;
            }

            // The volley goes to the NTP port, whatever port the broadcast came from.
            association = Add(new AssociationSettings(new IPEndPoint(from.Address, 123))
            {
                Mode = AssociationMode.BroadcastClient,
                Key = macKey?.Id,
                MinPoll = Math.Clamp((int)header.Poll, PassiveMinPoll, PassiveMaxPoll),
                MaxPoll = PassiveMaxPoll,
                Version = Math.Clamp(header.Version, (byte)1, (byte)4),
                Volley = _settings.BroadcastVolley,
                Group = group,
            });
            Log($"{from.Address}: mobilized a broadcast client association ({(group is { } g ? (g.IsIPv6Multicast || g.GetAddressBytes()[0] is >= 224 and < 240 ? "multicast " : "broadcast ") + g : "broadcast")}){(_settings.BroadcastVolley ? "; measuring the delay with a volley" : $"; delay {_settings.BroadcastDelay:0.000000} s (novolley)")}");
        }

        association.Authentic = auth == AuthOutcome.Authentic;
        if (local is not null && !local.Equals(group) && !local.IsIPv6Multicast)
        {
            // Our address on that network, for the volley (IPv6 tells only the group: the kernel then chooses).
            association.LocalAddress = local;
        }

        if (association.ReceiveBroadcast(header, arrival, now, _precisionSeconds, _settings.BroadcastDelay) == ReplyOutcome.NewSample)
        {
            Select(now, association);
        }
    }

    /// <summary>
    /// Whether an ignored broadcast or manycast answer from <paramref name="address"/> may be logged: once an hour per
    /// address, for at most <see cref="MaxPassiveAssociations"/> addresses an hour, so that spoofed sources can
    /// neither fill memory nor the log (the drops are counted all the same).
    /// </summary>
    private bool MayLogAuthFailure(IPAddress address, double now)
    {
        if (_lastGroupAuthLog.TryGetValue(address, out double last) && now - last < 3600)
        {
            return false;
        }

        if (_lastGroupAuthLog.Count >= MaxPassiveAssociations)
        {
            foreach (IPAddress old in _lastGroupAuthLog.Where(e => now - e.Value >= 3600).Select(e => e.Key).ToList())
            {
                _lastGroupAuthLog.Remove(old);
            }

            if (_lastGroupAuthLog.Count >= MaxPassiveAssociations)
            {
                return false;
            }
        }

        _lastGroupAuthLog[address] = now;
        return true;
    }

    /// <summary>The manycast client whose last request a reply answers (the origin timestamp is the request's).</summary>
    private Association? Manycast(in NtpHeader header)
    {
        foreach (Association a in _associations)
        {
            if (a.Mode == AssociationMode.ManycastClient && !header.OriginTimestamp.IsZero && a.LastTransmit == header.OriginTimestamp)
            {
                return a;
            }
        }

        return null;
    }

    /// <summary>
    /// A server answered our manycast request: an ordinary client association for it (ntpd's manycast scheme), up to
    /// <c>tos maxclock</c>; those that become unreachable or falsetickers are dropped as pool servers are, and the
    /// next beacon finds others.
    /// </summary>
    private void MobilizeManycast(Association prototype, IPEndPoint from, AuthOutcome auth, SymmetricKey? macKey, AccessFlags access)
    {
        AssociationSettings template = prototype.Settings;
        bool authRequired = template.Key is not null || (Flags & SystemFlags.Auth) != 0 || (access & AccessFlags.NoTrust) != 0;
        if ((template.Key is uint id && (auth != AuthOutcome.Authentic || macKey!.Id != id)) || auth is AuthOutcome.Bad or AuthOutcome.CryptoNak
            || (authRequired && auth != AuthOutcome.Authentic))
        {
            // As ntpd: under enable auth a manycast server must prove itself, or anyone on the group could be one.
            Responder.Counters.CountDropped(DropReason.BadAuth);
            if (MayLogAuthFailure(from.Address, _now))
            {
                Log($"manycast {template.Address.Address}: reply from {from.Address} ignored: not authenticated with the line's key; give 'manycastclient ... key N' and the servers 'keys'/'trustedkey N' with the same key, or 'disable auth'");
            }

            return;
        }

        if ((access & (AccessFlags.Ignore | AccessFlags.NoServe)) != 0 || _associations.Any(a => a.Address.Address.Equals(from.Address) && a.Mode != AssociationMode.ManycastClient))
        {
            return;
        }

        Pool pool = _manycastPools.TryGetValue(prototype, out Pool? existing) ? existing : _manycastPools[prototype] = new Pool(template.Address.Address.ToString(), template);
        if (PoolRoom() <= 0 || pool.Quarantined(from.Address, _now))
        {
            return;
        }

        // A server found under enable auth keeps the key it proved itself with.
        Add(template with { Mode = AssociationMode.Client, Address = new IPEndPoint(from.Address, 123), Iburst = true, Pool = pool, Name = null, Key = template.Key ?? macKey?.Id });
        Log($"manycast {template.Address.Address}: mobilized {from.Address}");
    }

    /// <summary>
    /// The hop limit of a manycast request: 1, doubling each beacon up to the line's <c>ttl</c> while fewer than
    /// <c>tos minclock</c> servers answer (ntpd's expanding ring), and the ring starts again once they do.
    /// </summary>
    private int ManycastTtl(Association prototype)
    {
        int found = ManycastFound(prototype);
        int ttl = _manycastTtl.TryGetValue(prototype, out int current) ? current : 1;
        _manycastTtl[prototype] = found >= _settings.Selection.MinClock ? 1 : Math.Min(Math.Max(1, prototype.Settings.Ttl), ttl * 2);
        return Math.Min(ttl, Math.Max(1, prototype.Settings.Ttl));
    }

    /// <summary>The servers a manycast client's requests have found and that are still kept.</summary>
    private int ManycastFound(Association prototype) =>
        _manycastPools.TryGetValue(prototype, out Pool? mine) ? _associations.Count(a => a.Settings.Pool == mine) : 0;

    /// <summary>Ephemeral associations whose peer stopped answering are removed (ntpd's demobilization at NTP_UNREACH).</summary>
    private void DemobilizeUnreachablePeers()
    {
        for (int i = _associations.Count - 1; i >= 0; i--)
        {
            Association a = _associations[i];
            if (a.Mode is AssociationMode.SymmetricPassive or AssociationMode.BroadcastClient && (a.SilentPolls >= PassiveUnreachLimit || a.Stopped))
            {
                Remove(a);
                Log(a.Stopped ? $"{a.Address.Address}: {(a.Mode == AssociationMode.SymmetricPassive ? "passive" : "broadcast client")} association demobilized (kiss-o'-death)"
                    : a.Mode == AssociationMode.SymmetricPassive
                    ? $"{a.Address.Address}: passive association demobilized ({a.SilentPolls} polls unanswered)"
                    : $"{a.Address.Address}: broadcast client association demobilized (no broadcast for {a.SilentPolls} polls)");
            }
        }
    }

    /// <summary>
    /// Arms the kernel for a leap second only on the last day of the month (UTC), since Linux inserts or deletes it at
    /// the next midnight; the announcement itself goes out in our packets as soon as the sources vote it.
    /// </summary>
    private void ArmLeap()
    {
        LeapIndicator wanted = LeapIndicator.NoWarning;
        NtpTimestamp clock = _clock.Now();
        if (_leapTable is { } table && table.ArmKernel(clock) is var fromFile and not LeapIndicator.NoWarning)
        {
            // The file knows the day: the kernel is armed in the last UTC day before the leap only.
            wanted = State.IsSynchronized ? fromFile : LeapIndicator.NoWarning;
        }
        else if ((_leapTable is null || _leapTable.Expired(clock))
            && State.Leap is LeapIndicator.AddSecond or LeapIndicator.DeleteSecond && IsLastDayOfMonth(clock.ToDateTime()))
        {
            wanted = State.Leap;
        }

        if (wanted == _kernelLeap || !ClockControl.SetLeap(wanted))
        {
            // Refused: tried again at the next tick.
            return;
        }

        _kernelLeap = wanted;
        RecordSystemEvent(wanted == LeapIndicator.NoWarning ? SystemEvent.LeapDisarmed : SystemEvent.LeapArmed);
        Log(wanted == LeapIndicator.NoWarning
            ? "leap second disarmed in the kernel"
            : $"leap second {(wanted == LeapIndicator.AddSecond ? "insertion" : "deletion")} armed in the kernel for the end of this UTC day");
    }

    private static bool IsLastDayOfMonth(DateTime utc) => utc.Day == DateTime.DaysInMonth(utc.Year, utc.Month);

    /// <summary>
    /// The leap indicator to advertise given the sources' vote: a leap of the leap seconds file outranks the vote,
    /// and while the file is current the vote cannot add one it lacks (ntpd 4.2.8 adds a voted leap to its table only
    /// once the table has expired); without a file, or with an expired one that knows no leap, the vote stands.
    /// </summary>
    private LeapIndicator DecideLeap(LeapIndicator voted, NtpTimestamp clock)
    {
        if (_leapTable is not { } table)
        {
            return voted;
        }

        LeapIndicator fromFile = table.Announced(clock);
        return fromFile != LeapIndicator.NoWarning || !table.Expired(clock) ? fromFile : voted;
    }

    /// <summary>
    /// Once a second with a leap seconds file: the leap indicator follows the file's window (it need not wait for a
    /// clock update, which may be 17 minutes away), the kernel learns TAI − UTC, and the smear is kept up to date.
    /// </summary>
    private void TendLeapTable(double now)
    {
        if (_leapTable is not { } table)
        {
            return;
        }

        NtpTimestamp clock = _clock.Now();
        if (State.IsSynchronized)
        {
            LeapIndicator leap = DecideLeap(_votedLeap, clock);
            if (leap != State.Leap)
            {
                LogLeapChange(leap, fromFile: true, clock);
                Responder.State = State with { Leap = leap };
            }

            int tai = table.TaiOffset(clock);
            if (tai > 0 && tai != _kernelTai && ClockControl.CanAdjust && ClockControl.SetTaiOffset(tai))
            {
                Log($"kernel TAI offset set to {tai} s (from the leap seconds file)");
                _kernelTai = tai;
            }
        }

        TendSmear(now, table, clock);
    }

    /// <summary>
    /// Gives the serving path the smear of the next leap within <c>leapsmearinterval</c>. In the leap's last second
    /// it marks the crossing (see <see cref="LeapSmear"/>), and a tick past the leap's monotonic moment retires it,
    /// since after Linux repeated the second the clock's readings fall inside the smear window once more.
    /// </summary>
    private void TendSmear(double now, LeapTable table, NtpTimestamp clock)
    {
        double interval = _settings.LeapSmearInterval;
        if (interval <= 0)
        {
            return;
        }

        LeapSmear? current = Responder.Smear;
        if (!double.IsNaN(_smearCrossing))
        {
            if (now < _smearCrossing)
            {
                return;
            }

            // Past the leap by monotonic time: done with it, whatever the clock reads.
            Log($"leap smear of {LeapTable.ToUtc(current?.Leap.NtpSeconds ?? 0):yyyy-MM-dd HH:mm:ss} UTC complete");
            _smearCrossing = double.NaN;
            Responder.Smear = null;
            _smearDone = current?.Leap.NtpSeconds ?? 0;
            return;
        }

        double seconds = LeapTable.Seconds(clock);
        if (table.NextLeap(clock) is not LeapSecond next || next.NtpSeconds - seconds >= interval || next.NtpSeconds == _smearDone)
        {
            Responder.Smear = null;
            return;
        }

        if (current is null || current.Leap != next)
        {
            Log($"leap smear started: {(next.Kind == LeapIndicator.AddSecond ? "insertion" : "deletion")} at {LeapTable.ToUtc(next.NtpSeconds):yyyy-MM-dd HH:mm:ss} UTC smeared over {interval:0} s; served time is not UTC until then");
            Responder.Smear = new LeapSmear(next, interval);
        }

        if (next.NtpSeconds - seconds <= 1)
        {
            Responder.Smear = new LeapSmear(next, interval, repeatedBelow: seconds);
            _smearCrossing = now + (next.NtpSeconds - seconds);
        }
    }

    private void LogLeapChange(LeapIndicator leap, bool fromFile, NtpTimestamp clock)
    {
        if (leap is LeapIndicator.AddSecond or LeapIndicator.DeleteSecond)
        {
            string kind = leap == LeapIndicator.AddSecond ? "insertion" : "deletion";
            Log(fromFile && _leapTable?.NextLeap(clock) is LeapSecond next
                ? $"leap second {kind} at {LeapTable.ToUtc(next.NtpSeconds):yyyy-MM-dd HH:mm:ss} UTC announced from the leap seconds file; the kernel is armed on its last day"
                : $"leap second {kind} announced by the majority of sources; the kernel is armed on the last day of the month");
        }
        else if (State.Leap is LeapIndicator.AddSecond or LeapIndicator.DeleteSecond && leap == LeapIndicator.NoWarning)
        {
            Log("leap second announcement cleared");
        }
    }

    /// <summary>Removes an association (unpeer, or a pool server that failed).</summary>
    public void Remove(Association association)
    {
        ArgumentNullException.ThrowIfNull(association);
        association.Driver?.Close();
        association.NtsState?.Dispose();
        _associations.Remove(association);
        Access = _access;
        if (SystemPeer == association)
        {
            SystemPeer = null;
        }
    }

    /// <summary>How many more pool associations fit under <c>tos maxclock</c>.</summary>
    private int PoolRoom() => _settings.Selection.MaxClock - _associations.Count(a => a.Mode is AssociationMode.Client or AssociationMode.SymmetricActive or AssociationMode.BroadcastClient);

    /// <summary>Drops failed pool associations and asks for addresses while there is room.</summary>
    private void TendPools(double now)
    {
        for (int i = _associations.Count - 1; i >= 0; i--)
        {
            Association a = _associations[i];
            if (a.Settings.Pool is not { } pool)
            {
                continue;
            }

            string? reason = a.SilentPolls > Pool.UnreachablePolls ? "unreachable"
                : a.FalsetickerRun >= Pool.FalsetickerSamples ? "falseticker"
                : a.Stopped ? "kiss-o'-death"
                : null;
            if (reason is null)
            {
                continue;
            }

            Remove(a);
            pool.Drop(a.Address.Address, now);

            Log($"pool {pool.Name}: dropped {a.Address.Address} ({reason})");
        }

        foreach (Pool pool in _pools)
        {
            if (!pool.Pending && now >= pool.NextResolve && PoolRoom() > 0)
            {
                pool.Pending = true;
                ResolveRequests.Enqueue(pool);
            }
        }
    }

    private Association? Find(IPEndPoint from, NtpMode mode)
    {
        foreach (Association a in _associations)
        {
            if (!a.Address.Address.Equals(from.Address))
            {
                continue;
            }

            bool fits = mode switch
            {
                NtpMode.Server => a.Mode is AssociationMode.Client or AssociationMode.BroadcastClient && a.Address.Port == from.Port,
                NtpMode.SymmetricActive or NtpMode.SymmetricPassive => a.Mode is AssociationMode.SymmetricActive or AssociationMode.SymmetricPassive,
                _ => false,
            };
            if (fits)
            {
                return a;
            }
        }

        return null;
    }

    private void Select(double now, Association? sampled = null)
    {
        _lastSelect = now;
        SelectionResult result = SelectionAlgorithm.Run(_associations, SystemPeer, now, Discipline.PollExponent, _settings.Selection, Eligible, SystemOffset);
        Association? previous = SystemPeer;
        SystemPeer = result.SystemPeer;
        if (SystemPeer is null)
        {
            if (previous is not null)
            {
                Log("no selectable sources: the system peer is lost");
                RecordSystemEvent(SystemEvent.NoSystemPeer);
                ClockControl.SetStatus(false, NtpConstants.MaxDispersion, NtpConstants.MaxDispersion);
            }

            WithoutSource(now);
            return;
        }

        _lostSince = double.NaN;
        if (IsOrphanParent)
        {
            IsOrphanParent = false;
            Log($"orphan mode: leaving, new source {Describe(SystemPeer)}");
        }

        if (SystemPeer != previous)
        {
            SystemPeer.RecordEvent(PeerEvent.SystemPeer);
            Log($"new system peer {Describe(SystemPeer)}, stratum {SystemPeer.Stratum}");
            Discipline.SetPollLimits(SystemPeer.Settings.MinPoll, SystemPeer.Settings.MaxPoll);
        }

        double offset;
        double delay;
        if (Discipline.WantsEverySample && !SystemPeer.IsRefclock)
        {
            // Every fresh sample of the system peer goes to the discipline, which weighs samples itself.
            if (sampled != SystemPeer)
            {
                return;
            }

            offset = SystemPeer.LastSample.Offset.ToSeconds();
            delay = SystemPeer.LastSample.Delay.ToSeconds();
        }
        else
        {
            // Only news from the system peer moves the clock (RFC 5905 clock_update).
            if (SystemPeer.UpdateTime <= _lastClockUpdate)
            {
                return;
            }

            offset = result.Offset;
            delay = SystemPeer.Filter.Delay;
        }

        _lastClockUpdate = SystemPeer.UpdateTime;
        SystemOffset = offset;
        SystemJitter = result.Jitter;
        DisciplineAction action = Discipline.Update(offset, delay, SystemPeer.Filter.Dispersion, now);
        if (action is not (DisciplineAction.Panic or DisciplineAction.Ignored))
        {
            ClockUpdates++;
        }

        if (action is not (DisciplineAction.Panic or DisciplineAction.Ignored) && Statistics.Wants(StatisticsFile.LoopStats))
        {
            NtpTimestamp stamp = _clock.Now();
            Statistics.Write(StatisticsFile.LoopStats, stamp, StatisticsLine.Loop(stamp, offset, Discipline.Frequency * 1e6, Discipline.Jitter, Discipline.Wander * 1e6, Discipline.PollExponent));
        }

        switch (action)
        {
            case DisciplineAction.Panic:
                Panicked = true;
                Log($"time correction of {Math.Round(offset)} seconds exceeds sanity limit ({_settings.Limits.PanicThreshold}); set clock manually to the correct UTC time.");
                return;
            case DisciplineAction.Ignored:
                return;
            case DisciplineAction.Stepped:
                RecordSystemEvent(SystemEvent.ClockStep);
                Log($"step time server {SystemPeer.Address.Address} offset {offset:+0.000000;-0.000000} sec");
                foreach (Association a in _associations)
                {
                    if (!a.IsRefclock)
                    {
                        a.Filter.Reset();
                    }
                }

                _lastClockUpdate = double.NegativeInfinity;
                break;
        }

        bool wasSynchronized = State.IsSynchronized;
        UpdateSystemState(SystemPeer, VoteLeap(result.Survivors), now);
        if (!wasSynchronized && State.IsSynchronized)
        {
            RecordSystemEvent(SystemEvent.ClockSync);
        }

        // Every update refreshes the kernel's error bounds, so that it never declares the clock unsynchronized itself.
        ClockControl.SetStatus(State.IsSynchronized, State.RootDelay / 2 + State.RootDispersion, SystemJitter);
        _feasibleStratum = Math.Min(_feasibleStratum, State.Stratum);
    }

    /// <summary>
    /// Loop avoidance beyond the reference ID test, which sees only a source synchronized directly to us. A host
    /// that loses its system peer must not take one of its own descendants instead (A → B → C → A counts the
    /// strata up to 16): every descendant advertises a stratum above the lowest one this host has advertised, so
    /// only sources at or below that stratum are eligible as a new system peer (the feasibility condition of
    /// distance-vector routing).
    /// Orphan parents are roots, never descendants; an orphan parent yields only to one with a lower address key.
    /// </summary>
    private bool Eligible(Association a)
    {
        if (a.IsRefclock || a == SystemPeer)
        {
            // Staying with the system peer cannot close a loop, even when its stratum grows: only a switch can.
            return true;
        }

        SelectionSettings selection = _settings.Selection;
        if (selection.OrphanMode && a.IsOrphanParent(selection.Orphan))
        {
            return !IsOrphanParent || (a.LocalAddress is not null
                && ReferenceId.FromAddress(a.Address.Address).Value < ReferenceId.FromAddress(a.LocalAddress).Value);
        }

        return a.Stratum <= _feasibleStratum;
    }

    /// <summary>
    /// No source survives. After <c>orphanwait</c>, in orphan mode, the host becomes an orphan parent; otherwise the
    /// feasibility hold-down ends and the host keeps serving its last state, as ntpd does (a loop through hosts
    /// that still advertise stale strata is then possible, as in ntpd: it counts up to stratum 16).
    /// </summary>
    private void WithoutSource(double now)
    {
        SelectionSettings selection = _settings.Selection;
        if (double.IsNaN(_lostSince))
        {
            _lostSince = now;
        }

        if (now - _lostSince < selection.OrphanWait)
        {
            return;
        }

        if (!selection.OrphanMode)
        {
            _feasibleStratum = NtpHeader.UnsynchronizedStratum;
            return;
        }

        if (!IsOrphanParent)
        {
            // The feasibility rule stays: a parent goes back to a source no farther from the root than its old one,
            // never to a descendant still advertising the stratum it had through us.
            IsOrphanParent = true;
            Log($"orphan mode: no source for {now - _lostSince:0} s, serving stratum {selection.Orphan} as orphan parent");
            // An orphan parent has no source to vote: only the leap seconds file can announce a leap.
            _votedLeap = LeapIndicator.NoWarning;
            Responder.State = new SystemState(
                DecideLeap(LeapIndicator.NoWarning, _clock.Now()),
                (byte)selection.Orphan,
                _settings.Precision,
                0,
                NtpConstants.MinDispersion,
                ReferenceId.OrphanParent,
                _clock.Now());
        }
    }

    /// <summary>
    /// A leap second is announced only when more than half of the survivors announce it (ntpd's vote), so one
    /// confused server cannot make the clock jump a second.
    /// </summary>
    private static LeapIndicator VoteLeap(IReadOnlyList<Association> survivors)
    {
        int insert = survivors.Count(a => a.Leap == LeapIndicator.AddSecond);
        int delete = survivors.Count(a => a.Leap == LeapIndicator.DeleteSecond);
        return 2 * insert > survivors.Count ? LeapIndicator.AddSecond
            : 2 * delete > survivors.Count ? LeapIndicator.DeleteSecond
            : LeapIndicator.NoWarning;
    }

    private void UpdateSystemState(Association peer, LeapIndicator voted, double now)
    {
        _votedLeap = voted;
        NtpTimestamp clock = _clock.Now();
        LeapIndicator leap = DecideLeap(voted, clock);
        if (leap != State.Leap && leap is LeapIndicator.AddSecond or LeapIndicator.DeleteSecond)
        {
            LogLeapChange(leap, fromFile: leap != voted || (_leapTable is { } t && t.Announced(clock) == leap), clock);
        }

        double peerJitter = peer.Filter.Jitter;
        double rootDispersion = peer.RootDispersion + peer.Filter.Dispersion
            + Math.Sqrt(peerJitter * peerJitter + SystemJitter * SystemJitter)
            + NtpConstants.Phi * Math.Max(0, now - peer.UpdateTime) + Math.Abs(SystemOffset);
        // RFC 5905 §7.3: a primary server (a stratum 0 clock) names its clock; above that the refid is the source's
        // address, a reference clock fudged to a stratum of its own included (ntpd's clock_update: seed 000's clients
        // see the local clock 127.127.1.1 at stratum 10 as the refid LOCAL(1)).
        ReferenceId refid = peer.IsRefclock && peer.Stratum == 0 ? peer.ReferenceId : ReferenceId.FromAddress(peer.Address.Address);
        Responder.State = new SystemState(
            leap,
            (byte)Math.Min(peer.Stratum + 1, NtpHeader.UnsynchronizedStratum),
            _settings.Precision,
            peer.RootDelay + peer.Filter.Delay,
            Math.Max(rootDispersion, NtpConstants.MinDispersion),
            refid,
            _clock.Now());
    }

    /// <summary>The poll limits of the configured associations: a passive peer's poll must not move the discipline's.</summary>
    private int MinPoll() => Configured().Select(a => a.Settings.MinPoll).DefaultIfEmpty(NtpConstants.DefaultMinPoll).Min();

    private int MaxPoll() => Configured().Select(a => a.Settings.MaxPoll).DefaultIfEmpty(NtpConstants.DefaultMaxPoll).Max();

    private IEnumerable<Association> Configured() => _associations.Where(a => a.Mode is AssociationMode.Client or AssociationMode.SymmetricActive or AssociationMode.Refclock);

    private static string Describe(Association a) => a.IsRefclock ? a.Settings.Name ?? a.ReferenceId.ToAscii() : a.Address.Address.ToString();

    private void Log(string message) => Events.Enqueue(new EngineEvent(_now, message));
}
