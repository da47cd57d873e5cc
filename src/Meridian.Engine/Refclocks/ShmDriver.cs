using System.Globalization;
using Meridian.Protocol;

namespace Meridian.Engine.Refclocks;

/// <summary>
/// ntpd's shared-memory driver (type 28, <c>127.127.28.u</c>): another program (gpsd, a PTP daemon) writes a
/// reference time and the local time it saw it at into SysV segment <c>0x4E545030 + u</c>; once a second the driver
/// takes a sample when <c>valid</c> is set. Mode 1 writers bump <c>count</c> around each write, so a copy torn by a
/// concurrent write is detected and dropped. Units 0 and 1 are owner-only (root's gpsd), 2 and up world-writable,
/// as ntpd creates them. <c>time1</c> corrects the offset; samples older than 5 s or more than 4 h (<c>time2</c>
/// when given) from the local time are refused unless <c>flag1</c> is set.
/// </summary>
public sealed class ShmDriver : RefclockDriver
{
    public const int Type = 28;

    public const int KeyBase = 0x4E545030;

    private const double MaxAge = 5;

    private IShmSegment? _segment;
    private readonly byte[] _copy = new byte[ShmTime.Size];
    private long _good;
    private long _notReady;
    private long _bad;
    private long _clash;

    public ShmDriver(RefclockSettings settings)
        : base(settings)
    {
        Precision = -1;
    }

    public override string Name => $"SHM({Settings.Unit})";

    public override string Description => "SHM/Shared memory interface";

    public override string DefaultReferenceId => "SHM";

    public int Key => KeyBase + Settings.Unit;

    /// <summary>Units 0 and 1 always owner-only; above, mode bit 0 asks for a private segment.</summary>
    public bool OwnerOnly => Settings.Unit < 2 || (Settings.Mode & 1) != 0;

    /// <summary>The largest |reference − local| accepted: <c>time2</c> seconds when set, else 4 hours.</summary>
    public double MaxDelta => Settings.Time2 is >= 1 and <= 86400 ? Math.Round(Settings.Time2) : 4 * 3600;

    public override IEnumerable<(string Name, string Value)> Variables =>
    [
        ("shm_good", N(_good)), ("shm_notready", N(_notReady)), ("shm_bad", N(_bad)), ("shm_clash", N(_clash)),
        ("shm_key", $"0x{Key:X8}"),
    ];

    protected override bool IsOpen => _segment is not null;

    protected override string OpenedMessage => $"segment 0x{Key:X8} attached ({(OwnerOnly ? "owner only" : "world-writable")})";

    protected override bool Open(IRefclockDevices devices, out string? error)
    {
        _segment = devices.AttachShm(Key, OwnerOnly, out error);
        return _segment is not null;
    }

    public override void Close()
    {
        _segment?.Dispose();
        _segment = null;
    }

    protected override void Tick(double now, NtpTimestamp clockNow, bool synchronized)
    {
        if (_segment is null)
        {
            return;
        }

        if (!_segment.TryRead(_copy, out int before, out int after))
        {
            _notReady++;
            return;
        }

        ShmTime shm = ShmTime.Read(_copy);
        if (shm.Mode == 1 && before != after)
        {
            _clash++;
            Report(RefclockEvent.Propagation);
            return;
        }

        if (shm.Mode is not (0 or 1))
        {
            _bad++;
            CountBadFormat();
            return;
        }

        NtpTimestamp reference = shm.ClockTime;
        NtpTimestamp local = shm.ReceiveTime;
        double age = (clockNow - local).ToSeconds();
        double delta = (reference - local).ToSeconds();
        if (age < -1 || age > MaxAge || (!Settings.Flag(1) && Math.Abs(delta) > MaxDelta))
        {
            _bad++;
            CountBadData(RefclockEvent.BadTime);
            return;
        }

        _good++;
        Timecode = reference.ToDateTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);
        if (shm.Leap == 3)
        {
            // The writer says its clock is not synchronized: the sample is no time.
            Leap = LeapIndicator.Unsynchronized;
            return;
        }

        Leap = (LeapIndicator)Math.Clamp(shm.Leap, 0, 3);
        Precision = (sbyte)Math.Clamp(shm.Precision, -30, 0);
        ReferenceTime = reference;
        Samples.Add(delta + Settings.Time1);
    }

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);
}
