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
    private readonly byte[] _buffer = new byte[NtpHeader.Size];
    private readonly byte[] _randomBytes = new byte[sizeof(ulong)];
    private readonly double _precisionSeconds;
    private double _lastClockUpdate = double.NegativeInfinity;
    private double _now;
    private double _lastSelect = double.NegativeInfinity;
    private int _nextId = 1;

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
        Responder = new ServerResponder(clock, SystemState.Unsynchronized(settings.Precision));
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

    /// <summary>Set when an offset exceeded the panic threshold: the daemon must exit.</summary>
    public bool Panicked { get; private set; }

    /// <summary>Log lines produced since the caller last drained them.</summary>
    public Queue<EngineEvent> Events { get; } = new();

    public Association Add(AssociationSettings settings)
    {
        var association = new Association(_nextId++, settings, _now, _precisionSeconds);
        _associations.Add(association);
        Discipline.SetPollLimits(MinPoll(), MaxPoll());
        return association;
    }

    /// <summary>Handles a datagram received at <paramref name="arrival"/> (system clock) and monotonic <paramref name="now"/>.</summary>
    public void Receive(ReadOnlySpan<byte> datagram, IPEndPoint from, NtpTimestamp arrival, double now)
    {
        _now = now;
        if (!NtpHeader.TryPeekModeAndVersion(datagram, out NtpMode mode, out _))
        {
            return;
        }

        if (mode is NtpMode.Client or NtpMode.Control or NtpMode.Private or NtpMode.Reserved)
        {
            Span<byte> reply = stackalloc byte[NtpHeader.Size];
            int length = Responder.Respond(datagram, arrival, reply);
            if (length > 0)
            {
                _transport.Send(from, reply[..length], clientRequest: false);
            }

            return;
        }

        if (NtpPacket.TryParse(datagram, out NtpPacket packet) != PacketStatus.Ok)
        {
            return;
        }

        NtpHeader header = packet.Header;
        Association? association = Find(from, mode);
        if (association is null && mode == NtpMode.SymmetricActive && _settings.AcceptPeers
            && _associations.Count(a => a.Mode == AssociationMode.SymmetricPassive) < MaxPassiveAssociations)
        {
            association = Add(new AssociationSettings(from) { Mode = AssociationMode.SymmetricPassive });
            Log($"{from.Address}: mobilized a passive association for a symmetric peer");
        }

        if (association is null)
        {
            return;
        }

        ReplyOutcome outcome = association.Receive(header, arrival, now, _precisionSeconds);
        switch (outcome)
        {
            case ReplyOutcome.Kiss:
                string code = header.ReferenceId.ToAscii();
                Log(association.Stopped
                    ? $"{from.Address}: kiss code {code} ({KissCode.Describe(header.ReferenceId)}); association stopped"
                    : $"{from.Address}: kiss code {code} ({KissCode.Describe(header.ReferenceId)}); poll raised to {Math.Pow(2, association.HostPoll)} s");
                break;
            case ReplyOutcome.NewSample:
                Select(now, association);
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
                news |= association.PollRefclock(now, _precisionSeconds);
                continue;
            }

            SystemState state = State;
            _random.NextBytes(_randomBytes);
            association.BuildRequest(_buffer, _clock.Now(), System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(_randomBytes), now, Discipline.PollExponent, state.Leap, state.Stratum, state.Precision);
            _transport.Send(association.Address, _buffer, association.Mode == AssociationMode.Client);
        }

        if (news || now - _lastSelect >= 8)
        {
            Select(now);
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
        SelectionResult result = SelectionAlgorithm.Run(_associations, SystemPeer, now, Discipline.PollExponent, _settings.Selection);
        Association? previous = SystemPeer;
        SystemPeer = result.SystemPeer;
        if (SystemPeer is null)
        {
            if (previous is not null)
            {
                Log("no selectable sources: the system peer is lost");
            }

            return;
        }

        if (SystemPeer != previous)
        {
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

        UpdateSystemState(SystemPeer, now);
    }

    private void UpdateSystemState(Association peer, double now)
    {
        double peerJitter = peer.Filter.Jitter;
        double rootDispersion = peer.RootDispersion + peer.Filter.Dispersion
            + Math.Sqrt(peerJitter * peerJitter + SystemJitter * SystemJitter)
            + NtpConstants.Phi * Math.Max(0, now - peer.UpdateTime) + Math.Abs(SystemOffset);
        ReferenceId refid = peer.IsRefclock ? peer.ReferenceId : ReferenceId.FromAddress(peer.Address.Address);
        Responder.State = new SystemState(
            peer.Leap,
            (byte)Math.Min(peer.Stratum + 1, NtpHeader.UnsynchronizedStratum),
            _settings.Precision,
            peer.RootDelay + peer.Filter.Delay,
            Math.Max(rootDispersion, NtpConstants.MinDispersion),
            refid,
            _clock.Now());
    }

    private int MinPoll() => _associations.Count == 0 ? NtpConstants.MinPoll + 2 : _associations.Min(a => a.Settings.MinPoll);

    private int MaxPoll() => _associations.Count == 0 ? 10 : _associations.Max(a => a.Settings.MaxPoll);

    private static string Describe(Association a) => a.IsRefclock ? a.Settings.Name ?? a.ReferenceId.ToAscii() : a.Address.Address.ToString();

    private void Log(string message) => Events.Enqueue(new EngineEvent(_now, message));
}
