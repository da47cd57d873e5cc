using System.Net;
using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>
/// What mode 6 may know of the engine at one moment: the system variables, the counters, and a
/// <see cref="PeerSnapshot"/> per association. The control responder formats these and never reaches into the engine,
/// so what ntpq sees cannot change the engine, and the responder can be tested from values alone.
/// </summary>
public sealed record EngineSnapshot
{
    public required SystemState State { get; init; }

    /// <summary>What the daemon says about itself (<c>version</c>, <c>processor</c>, <c>system</c>).</summary>
    public required HostDescription Host { get; init; }

    /// <summary>Monotonic seconds of the snapshot.</summary>
    public required double Now { get; init; }

    /// <summary>The system clock at the snapshot (mode 6's <c>clock</c>).</summary>
    public required NtpTimestamp Clock { get; init; }

    public required IReadOnlyList<PeerSnapshot> Peers { get; init; }

    /// <summary>The system peer's association ID, 0 when there is none.</summary>
    public int SystemPeerId { get; init; }

    public bool SystemPeerIsRefclock { get; init; }

    public bool SystemPeerIsLocalClock { get; init; }

    public int PollExponent { get; init; }

    /// <summary>Frequency correction (s/s), clock jitter (s), wander (s/s) of the discipline.</summary>
    public double Frequency { get; init; }

    public double ClockJitter { get; init; }

    public double Wander { get; init; }

    /// <summary>Combined offset and system jitter of the last clock update, seconds.</summary>
    public double Offset { get; init; }

    public double SystemJitter { get; init; }

    public int EventCount { get; init; }

    public int LastEvent { get; init; }

    /// <summary>Seconds since start; since the last clock update (NaN before the first).</summary>
    public double Uptime { get; init; }

    public double SinceClockUpdate { get; init; } = double.NaN;

    public SystemFlags Flags { get; init; }

    public double BroadcastDelay { get; init; }

    /// <summary>The kernel's discipline state as the host last read it; null where there is none.</summary>
    public KernelLoop? Kernel { get; init; }

    /// <summary>The leap seconds file's table, if one is loaded (ntpq's <c>tai</c>, <c>leapsec</c>, <c>expire</c>).</summary>
    public LeapTable? Leaps { get; init; }

    /// <summary><c>leapsmearinterval</c>, seconds (0: off).</summary>
    public double LeapSmearInterval { get; init; }

    /// <summary>How far served time is behind the clock now because of the smear, seconds.</summary>
    public double LeapSmearOffset { get; init; }

    public required PacketCounters Packets { get; init; }

    public required IoCounters Io { get; init; }

    public required AuthCounters Auth { get; init; }

    public required MruList Mru { get; init; }

    public required RestrictList Access { get; init; }

    /// <summary>The NTP side of NTS, client and server; null in snapshots made without an engine.</summary>
    public Nts.NtsCounters? Nts { get; init; }

    /// <summary>The NTS-KE counters as the host last read them.</summary>
    public Nts.NtsKeCounts NtsKe { get; init; }

    /// <summary>The mode 6 system status word: leap, clock source, event counter and last event (RFC 9327 §2.4.1).</summary>
    public ushort SystemStatus =>
        ControlStatus.System(State.Leap, SystemPeerId == 0 ? 0 : SystemPeerIsRefclock ? (SystemPeerIsLocalClock ? 5 : 1) : 6, EventCount, LastEvent);

    public PeerSnapshot? Peer(int id)
    {
        foreach (PeerSnapshot p in Peers)
        {
            if (p.Id == id)
            {
                return p;
            }
        }

        return null;
    }
}

/// <summary>One association as mode 6 reports it, copied out of the engine.</summary>
public sealed record PeerSnapshot
{
    public required int Id { get; init; }

    public required ushort Status { get; init; }

    public required AssociationMode Mode { get; init; }

    public required IPEndPoint Address { get; init; }

    /// <summary>The clock's or host's name (ntpd's <c>srchost</c>): <c>LOCAL(0)</c> for the local clock, the configured name otherwise.</summary>
    public string? Name { get; init; }

    public IPAddress? LocalAddress { get; init; }

    public bool IsRefclock { get; init; }

    public bool IsLocalClock { get; init; }

    public LeapIndicator Leap { get; init; }

    public byte Version { get; init; }

    public byte Stratum { get; init; }

    public sbyte PeerPoll { get; init; }

    public int HostPoll { get; init; }

    public sbyte Precision { get; init; }

    public double RootDelay { get; init; }

    public double RootDispersion { get; init; }

    /// <summary>The reference ID as ntpq shows it (the kiss code after a kiss, ASCII for stratum 0/1 and clocks, else dotted).</summary>
    public required string ReferenceIdText { get; init; }

    public NtpTimestamp ReferenceTime { get; init; }

    public NtpTimestamp Received { get; init; }

    public NtpTimestamp Origin { get; init; }

    public NtpTimestamp Transmit { get; init; }

    public byte Reach { get; init; }

    public int Unreach { get; init; }

    /// <summary>Filter delay, offset and jitter (0 before the first sample) and the aged dispersion, seconds.</summary>
    public double Delay { get; init; }

    public double Offset { get; init; }

    public double Jitter { get; init; }

    public double Dispersion { get; init; }

    public uint KeyId { get; init; }

    public required IReadOnlyList<ClockFilter.Stage> Stages { get; init; }

    public TallyCode Tally { get; init; }

    /// <summary>Seconds since the last packet (NaN before one), until the next poll, since reach last changed (NaN before).</summary>
    public double SinceReceived { get; init; } = double.NaN;

    public double UntilPoll { get; init; }

    public double SinceReachChange { get; init; } = double.NaN;

    public long Sent { get; init; }

    public long PacketsReceived { get; init; }

    public long BadAuth { get; init; }

    public long BogusOrigin { get; init; }

    public long Duplicates { get; init; }

    /// <summary>For a reference clock: driver type, fudge times (null when not configured), stratum, refid, flags.</summary>
    public int RefclockType { get; init; }

    public double? RefclockTime1 { get; init; }

    public double? RefclockTime2 { get; init; }

    public int RefclockStratum { get; init; }

    public ReferenceId RefclockId { get; init; }

    public int RefclockFlags { get; init; }

    /// <summary>A driver's state for <c>ntpq -c cv</c> (null for the local clock and network sources).</summary>
    public RefclockState? Driver { get; init; }

    /// <summary>The NTS client state of a <c>server ... nts</c> association; null for every other association.</summary>
    public NtsPeerState? Nts { get; init; }

    /// <summary>A copy of <paramref name="a"/> at monotonic time <paramref name="now"/>.</summary>
    public static PeerSnapshot Of(Association a, double now)
    {
        ArgumentNullException.ThrowIfNull(a);
        AssociationSettings s = a.Settings;
        bool sampled = a.Filter.Count > 0;
        return new PeerSnapshot
        {
            Id = a.Id,
            Status = ControlStatus.Peer(
                configured: a.Mode is not (AssociationMode.SymmetricPassive or AssociationMode.BroadcastClient),
                authEnabled: s.Key is not null,
                authentic: a.Authentic,
                reachable: a.Reach != 0,
                broadcast: a.Mode is AssociationMode.Broadcast or AssociationMode.BroadcastClient or AssociationMode.ManycastClient,
                ControlResponder.Selection(a.Tally),
                a.EventCount,
                (int)a.LastEvent),
            Mode = a.Mode,
            Address = a.Address,
            Name = s.Name,
            // A broadcast client's packets came to a group or broadcast address: ntpq tells multicast by it.
            LocalAddress = s.Group ?? a.LocalAddress,
            IsRefclock = a.IsRefclock,
            IsLocalClock = a.IsLocalClock,
            Leap = a.Leap,
            Version = s.Version,
            Stratum = a.Stratum,
            PeerPoll = a.PeerPoll,
            HostPoll = a.HostPoll,
            Precision = a.Precision,
            RootDelay = a.RootDelay,
            RootDispersion = a.RootDispersion,
            ReferenceIdText = a.Kissed && a.LastKiss is ReferenceId kiss ? kiss.ToAscii()
                : a.IsRefclock || a.Stratum <= 1 || a.Stratum >= NtpHeader.UnsynchronizedStratum ? a.ReferenceId.ToAscii() : a.ReferenceId.ToDottedQuad(),
            ReferenceTime = a.ReferenceTime,
            Received = a.LastReceivedAt,
            Origin = a.LastOrigin,
            Transmit = a.LastTransmit,
            Reach = a.Reach,
            Unreach = a.Unreach,
            Delay = sampled ? a.Filter.Delay : 0,
            Offset = sampled ? a.Filter.Offset : 0,
            Jitter = sampled ? a.Filter.Jitter : 0,
            Dispersion = sampled ? a.Filter.Dispersion + NtpConstants.Phi * Math.Max(0, now - a.UpdateTime) : NtpConstants.MaxDispersion,
            KeyId = s.Key ?? 0,
            Stages = a.Filter.StagesInArrivalOrder.ToArray(),
            Tally = a.Tally,
            SinceReceived = double.IsNaN(a.LastReceived) ? double.NaN : Math.Max(0, now - a.LastReceived),
            UntilPoll = Math.Max(0, a.NextPoll - now),
            SinceReachChange = double.IsNaN(a.ReachChanged) ? double.NaN : Math.Max(0, now - a.ReachChanged),
            Sent = a.Sent,
            PacketsReceived = a.Received,
            BadAuth = a.BadAuth,
            BogusOrigin = a.BogusOrigin,
            Duplicates = a.Duplicates,
            RefclockType = s.RefclockType,
            RefclockTime1 = s.RefclockTime1,
            RefclockTime2 = s.RefclockTime2,
            RefclockStratum = s.RefclockStratum,
            RefclockId = s.RefclockId,
            RefclockFlags = s.RefclockFlags,
            Nts = s.Nts ? NtsPeerState.Of(a) : null,
            Driver = a.Driver is { } d ? new RefclockState(d.Description, d.Timecode, d.Polls, d.NoReply, d.BadFormat, d.BadData, d.CurrentStatus, d.LastEvent, [.. d.Variables]) : null,
        };
    }
}

/// <summary>The system flags of <c>enable</c>/<c>disable</c> (ntpd's names), as the engine holds them at run time.</summary>
[Flags]
public enum SystemFlags
{
    None = 0,

    /// <summary>Unknown symmetric peers must authenticate before a passive association is mobilized.</summary>
    Auth = 1 << 0,

    BroadcastClient = 1 << 1,

    Calibrate = 1 << 2,

    Kernel = 1 << 3,

    /// <summary>Remote addresses go into the MRU list.</summary>
    Monitor = 1 << 4,

    Ntp = 1 << 5,

    Stats = 1 << 6,

    Pps = 1 << 7,

    Mode7 = 1 << 8,

    /// <summary>ntpd's defaults: auth, kernel, monitor, ntp, stats.</summary>
    Default = Auth | Kernel | Monitor | Ntp | Stats,
}

/// <summary>What a reference clock driver reports of itself: the counters and the last timecode of ntpd's READCLOCK.</summary>
public sealed record RefclockState(
    string Description, string Timecode, long Polls, long NoReply, long BadFormat, long BadData,
    Refclocks.RefclockEvent CurrentStatus, Refclocks.RefclockEvent LastEvent, IReadOnlyList<(string Name, string Value)> Variables);

/// <summary>
/// An NTS association's state for mode 6: the cookies in the jar (-1 while it holds no keys, as NTPsec), the NTS-KE
/// server asked, the AEAD agreed (0 before keys), the NAKs received, the exchanges that gave keys or failed, and why
/// the last one failed.
/// </summary>
public sealed record NtsPeerState(int Cookies, string KeyExchangeServer, ushort Aead, long Naks, long KeyExchanges, long KeyExchangeFailures, string? LastFailure)
{
    public static NtsPeerState Of(Association a)
    {
        ArgumentNullException.ThrowIfNull(a);
        return new NtsPeerState(
            a.NtsState is { } state ? state.CookieCount : -1,
            a.Settings.Name ?? a.Settings.Address.Address.ToString(),
            a.NtsState?.AeadId ?? 0,
            a.NtsNaks,
            a.NtsKeyExchanges,
            a.NtsKeyExchangeFailures,
            a.NtsLastFailure);
    }
}
