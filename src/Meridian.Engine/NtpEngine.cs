using System.Net;
using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>Sends the engine's packets: the host through sockets, the simulator through its links.</summary>
public interface INtpTransport
{
    /// <param name="destination">Where to.</param>
    /// <param name="packet">The encoded packet.</param>
    /// <param name="clientRequest">True for a client request, which goes out from a fresh random port (RFC 9109);
    /// false for server replies and symmetric packets, which go from port 123.</param>
    void Send(IPEndPoint destination, ReadOnlySpan<byte> packet, bool clientRequest);
}

/// <summary>A symmetric key (keys file): its ID, MAC algorithm and secret; mode 6 and associations use it alike.</summary>
public sealed record AuthKey(uint Id, MacAlgorithm Algorithm, byte[] Secret)
{
    public override string ToString() => $"key {Id} ({Algorithm}, secret withheld)";
}

/// <summary>Which clock discipline the engine runs.</summary>
public enum DisciplineKind
{
    Adaptive,
    Classic,
}

/// <summary>Everything the engine is configured with.</summary>
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

    /// <summary>What mode 6 reports as version, processor and system.</summary>
    public HostDescription Host { get; init; } = HostDescription.Unknown;

    /// <summary>The key that authenticates mode 6 writes and <c>:config</c> (<c>controlkey</c>); null refuses them all.</summary>
    public AuthKey? ControlKey { get; init; }

    /// <summary>Applies authenticated <c>:config</c> text (ntp.conf lines) and returns the answer for ntpq; null refuses.</summary>
    public Func<string, string>? Configure { get; init; }

    /// <summary>The access list (<c>restrict</c>); by default loopback may query, other hosts may not.</summary>
    public RestrictList Access { get; init; } = RestrictList.Default;

    /// <summary>Rate limits and MRU list bounds (<c>discard</c>, <c>mru</c>).</summary>
    public DiscardSettings Discard { get; init; } = new();

    /// <summary><c>setvar</c>: extra system variables that mode 6 reads and an authenticated <c>writevar</c> changes.</summary>
    public IReadOnlyList<UserVariable> UserVariables { get; init; } = [];

    /// <summary>Reads the kernel's clock discipline state (ntpq's <c>kerninfo</c>); null where there is no kernel.</summary>
    public Func<KernelLoop?>? ReadKernel { get; init; }

    /// <summary>The system flags in effect as words (<c>auth monitor ntp kernel stats</c>), for ntpdc's sysinfo.</summary>
    public Func<string>? SystemFlags { get; init; }

    /// <summary><c>broadcastdelay</c>, seconds: reported by ntpdc's sysinfo.</summary>
    public double BroadcastDelay { get; init; } = 0.004;

    /// <summary>Datagrams the host may queue for the engine thread (ntpq's <c>iostats</c> receive buffers).</summary>
    public int QueueCapacity { get; init; } = 4096;

    /// <summary>Keys read from the keys file (ntpq's <c>authinfo</c>).</summary>
    public int StoredKeys { get; init; }

    /// <summary>The keys <c>trustedkey</c> trusts: they sign and check association and client packets.</summary>
    public IReadOnlyList<AuthKey> TrustedKeys { get; init; } = [];

    /// <summary>
    /// <c>enable auth</c> (ntpd's default): a symmetric active packet from an unknown peer mobilizes a passive
    /// association only when it is authenticated; <c>disable auth</c> lets any peer in (seed 000).
    /// </summary>
    public bool RequirePeerAuthentication { get; init; }
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

    private readonly EngineSettings _settings;
    private readonly IClock _clock;
    private readonly INtpTransport _transport;
    private readonly Random _random;
    private readonly List<Association> _associations = new();
    private readonly List<Pool> _pools = new();
    private readonly byte[] _buffer = new byte[ServerResponder.MaxReplyLength];
    private readonly byte[] _randomBytes = new byte[sizeof(ulong)];
    private readonly double _precisionSeconds;
    private double _lastClockUpdate = double.NegativeInfinity;
    private double _now;
    private double _lastSelect = double.NegativeInfinity;
    private int _nextId = 1;
    private int _feasibleStratum = NtpHeader.UnsynchronizedStratum;
    private double _lostSince = double.NaN;
    private bool _monitor = true;
    private RestrictList _access = RestrictList.Default;

    public NtpEngine(EngineSettings settings, IClock clock, IClockControl control, INtpTransport transport, Random random)
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
        Responder = new ServerResponder(clock, SystemState.Unsynchronized(settings.Precision)) { KissPoll = settings.Discard.Average, Keys = Keys };
        Mru = new MruList(settings.Discard);
        Access = settings.Access;
        Io = new IoCounters { QueueCapacity = settings.QueueCapacity };
        Control = new ControlResponder(this, clock, settings.Host, random, settings.ControlKey, settings.Configure);
        RecordSystemEvent(SystemEvent.Restart);
    }

    /// <summary>Monotonic time of the first tick or packet: ntpq's uptime.</summary>
    public double StartTime { get; private set; } = double.NaN;

    /// <summary>Every remote address heard from, most recent first, bounded (ntpq's mrulist).</summary>
    public MruList Mru { get; }

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
        set => Volatile.Write(ref _access, value.WithSources(_associations.Where(a => !a.IsRefclock).Select(a => a.Address.Address)));
    }

    /// <summary>The trusted keys.</summary>
    public KeyStore Keys { get; }

    /// <summary>Key lookups and MAC work.</summary>
    public AuthCounters Auth { get; }

    public EngineSettings Settings => _settings;

    /// <summary><c>enable monitor</c>: remote addresses go into the MRU list (read from receive threads too).</summary>
    public bool Monitor
    {
        get => Volatile.Read(ref _monitor);
        set => Volatile.Write(ref _monitor, value);
    }

    /// <summary>Answers mode 6 queries (ntpq).</summary>
    public ControlResponder Control { get; }

    /// <summary>Mode 6 system event counter (saturates at 15) and the last event code.</summary>
    public int SystemEventCount { get; private set; }

    public int LastSystemEvent { get; private set; }

    private void RecordSystemEvent(SystemEvent e)
    {
        SystemEventCount = Math.Min(SystemEventCount + 1, 15);
        LastSystemEvent = (int)e;
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

    /// <summary>Log lines produced since the caller last drained them.</summary>
    public Queue<EngineEvent> Events { get; } = new();

    public Association Add(AssociationSettings settings)
    {
        var association = new Association(_nextId++, settings, _now, _precisionSeconds);
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

            Add(pool.Template with { Address = new IPEndPoint(address, pool.Template.Address.Port), Pool = pool });
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
    private bool Authentic(Association association, AuthOutcome auth, AuthKey? key, AccessFlags access)
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
    /// The serving path for what the receive threads answer themselves (client requests, and what the responder
    /// counts and drops): the sender's access flags, the MRU list's rate verdict, then the responder. Thread-safe
    /// and allocation-free for a known client; returns the reply's length in <paramref name="reply"/>, or 0.
    /// </summary>
    public int Serve(ReadOnlySpan<byte> datagram, MruKey source, NtpTimestamp arrival, Span<byte> reply)
    {
        RateVerdict rate = Monitor && datagram.Length > 0 ? Mru.Touch(source, arrival, (byte)(datagram[0] & 0x3F)) : RateVerdict.Ok;
        int length = Responder.Respond(datagram, arrival, reply, Access.Lookup(source), rate, out bool kissed);
        if (kissed && Monitor)
        {
            // The next kiss to this address waits for the kiss interval.
            Mru.Kissed(source, arrival);
        }

        return length;
    }

    /// <summary>
    /// Handles a datagram received at <paramref name="arrival"/> (system clock) and monotonic <paramref name="now"/>,
    /// sent to our address <paramref name="local"/> (for the loop test; null if unknown).
    /// </summary>
    public void Receive(ReadOnlySpan<byte> datagram, IPEndPoint from, NtpTimestamp arrival, double now, IPAddress? local = null)
    {
        _now = now;
        if (!NtpHeader.TryPeekModeAndVersion(datagram, out NtpMode mode, out _))
        {
            return;
        }

        MruKey source = MruKey.From(from);
        if (mode is NtpMode.Client or NtpMode.Private or NtpMode.Reserved)
        {
            Span<byte> reply = stackalloc byte[ServerResponder.MaxReplyLength];
            int length = Serve(datagram, source, arrival, reply);
            if (length > 0)
            {
                _transport.Send(from, reply[..length], clientRequest: false);
            }

            return;
        }

        if (Monitor)
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
            if ((access & AccessFlags.NoQuery) != 0)
            {
                // noquery: no answer at all, so mode 6 cannot be used for amplification.
                Responder.Counters.CountRestricted();
                return;
            }

            Responder.Counters.CountControl();
            foreach (byte[] fragment in Control.Respond(datagram, now, from, mayModify: (access & AccessFlags.NoModify) == 0))
            {
                _transport.Send(from, fragment, clientRequest: false);
            }

            return;
        }

        if (NtpPacket.TryParse(datagram, out NtpPacket packet) != PacketStatus.Ok)
        {
            return;
        }

        NtpHeader header = packet.Header;
        Association? association = Find(from, mode);
        AuthOutcome auth = Keys.Check(packet, out AuthKey? macKey);
        if (association is null && mode == NtpMode.SymmetricActive
            && ((access & (AccessFlags.NoPeer | AccessFlags.NoServe)) != 0 || (((access & AccessFlags.NoTrust) != 0 || _settings.RequirePeerAuthentication) && auth != AuthOutcome.Authentic)))
        {
            Responder.Counters.CountRestricted();
            return;
        }

        if (association is not null && !Authentic(association, auth, macKey, access))
        {
            return;
        }

        if (association is null && mode == NtpMode.SymmetricActive && _settings.AcceptPeers
            && _associations.Count(a => a.Mode == AssociationMode.SymmetricPassive) < MaxPassiveAssociations)
        {
            association = Add(new AssociationSettings(from) { Mode = AssociationMode.SymmetricPassive, Key = macKey?.Id });
            association.Authentic = auth == AuthOutcome.Authentic;
            Log($"{from.Address}: mobilized a passive association for a symmetric peer");
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
            if (!association.IsDue(now))
            {
                continue;
            }

            if (association.IsRefclock)
            {
                news |= association.PollRefclock(now, _precisionSeconds, _clock.Now());
                continue;
            }

            _random.NextBytes(_randomBytes);
            int length = association.BuildRequest(_buffer, _clock.Now(), System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(_randomBytes), now, Discipline.PollExponent, State);
            if (association.Settings.Key is uint keyId)
            {
                if (Keys.Find(keyId) is AuthKey key)
                {
                    length = Keys.Sign(key, _buffer, length);
                }
                else if (!association.ReportedMissingKey)
                {
                    association.ReportedMissingKey = true;
                    Log($"{Describe(association)}: key {keyId} is not a trusted key of the keys file; its replies cannot be authenticated");
                }
            }

            _transport.Send(association.Address, _buffer.AsSpan(0, length), association.Mode == AssociationMode.Client);
        }

        if (news || now - _lastSelect >= 8)
        {
            Select(now);
        }

        TendPools(now);
    }

    /// <summary>Removes an association (unpeer, or a pool server that failed).</summary>
    public void Remove(Association association)
    {
        _associations.Remove(association);
        Access = _access;
        if (SystemPeer == association)
        {
            SystemPeer = null;
        }
    }

    /// <summary>How many more pool associations fit under <c>tos maxclock</c>.</summary>
    private int PoolRoom() => _settings.Selection.MaxClock - _associations.Count(a => !a.IsRefclock && a.Mode != AssociationMode.SymmetricPassive);

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
                NtpMode.Server => a.Mode == AssociationMode.Client && a.Address.Port == from.Port,
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
        SelectionResult result = SelectionAlgorithm.Run(_associations, SystemPeer, now, Discipline.PollExponent, _settings.Selection, Eligible);
        Association? previous = SystemPeer;
        SystemPeer = result.SystemPeer;
        if (SystemPeer is null)
        {
            if (previous is not null)
            {
                Log("no selectable sources: the system peer is lost");
                RecordSystemEvent(SystemEvent.NoSystemPeer);
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
            Responder.State = new SystemState(
                LeapIndicator.NoWarning,
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

    private void UpdateSystemState(Association peer, LeapIndicator leap, double now)
    {
        if (leap != State.Leap && (State.IsSynchronized || leap != LeapIndicator.NoWarning))
        {
            ClockControl.SetLeap(leap);
            if (leap != LeapIndicator.NoWarning)
            {
                Log($"leap second {(leap == LeapIndicator.AddSecond ? "insertion" : "deletion")} announced by the majority of sources; armed for the end of the UTC day");
            }
        }

        double peerJitter = peer.Filter.Jitter;
        double rootDispersion = peer.RootDispersion + peer.Filter.Dispersion
            + Math.Sqrt(peerJitter * peerJitter + SystemJitter * SystemJitter)
            + NtpConstants.Phi * Math.Max(0, now - peer.UpdateTime) + Math.Abs(SystemOffset);
        ReferenceId refid = peer.IsRefclock ? peer.ReferenceId : ReferenceId.FromAddress(peer.Address.Address);
        Responder.State = new SystemState(
            leap,
            (byte)Math.Min(peer.Stratum + 1, NtpHeader.UnsynchronizedStratum),
            _settings.Precision,
            peer.RootDelay + peer.Filter.Delay,
            Math.Max(rootDispersion, NtpConstants.MinDispersion),
            refid,
            _clock.Now());
    }

    private int MinPoll() => _associations.Count == 0 ? NtpConstants.DefaultMinPoll : _associations.Min(a => a.Settings.MinPoll);

    private int MaxPoll() => _associations.Count == 0 ? NtpConstants.DefaultMaxPoll : _associations.Max(a => a.Settings.MaxPoll);

    private static string Describe(Association a) => a.IsRefclock ? a.Settings.Name ?? a.ReferenceId.ToAscii() : a.Address.Address.ToString();

    private void Log(string message) => Events.Enqueue(new EngineEvent(_now, message));
}
