using Meridian.Protocol;

namespace Meridian.Engine.Refclocks;

/// <summary>
/// ntpd's PPS driver (type 22, ATOM, <c>127.127.22.u</c>): the edge of a pulse-per-second signal on
/// <c>/dev/ppsU</c> (RFC 2783) marks the start of every second to the microsecond, but says nothing of which second,
/// so its samples are the edge's distance to the nearest second of the system clock, taken only while the system
/// clock is synchronized to another source, and selection uses them only while a <c>prefer</c> peer survives.
/// <c>flag2</c> captures the clear edge, <c>time1</c> is the signal's offset.
/// </summary>
public sealed class PpsDriver : RefclockDriver
{
    public const int Type = 22;

    /// <summary>An edge further than this from the nearest second is not a second's edge (ntpd's 0.4 s).</summary>
    private const double Aperture = 0.4;

    private IPpsSource? _pps;
    private uint _lastSequence;
    private bool _first = true;

    public PpsDriver(RefclockSettings settings)
        : base(settings)
    {
        Precision = -20;
    }

    public override string Name => $"PPS({Settings.Unit})";

    public override string Description => "PPS Clock Discipline";

    public override string DefaultReferenceId => "PPS";

    public string DevicePath => Settings.Path ?? Settings.PpsPath ?? $"/dev/pps{Settings.Unit}";

    protected override bool IsOpen => _pps is { IsOpen: true };

    protected override string OpenedMessage => $"{DevicePath} opened, capturing the {(Settings.Flag(2) ? "clear" : "assert")} edge";

    protected override bool Open(IRefclockDevices devices, out string? error)
    {
        _pps?.Dispose();
        _pps = devices.OpenPps(DevicePath, out error);
        if (_pps is not null && !_pps.Configure(Settings.Flag(2), out error))
        {
            _pps.Dispose();
            _pps = null;
        }

        _first = true;
        return _pps is not null;
    }

    public override void Close()
    {
        _pps?.Dispose();
        _pps = null;
    }

    protected override void Tick(double now, NtpTimestamp clockNow, bool synchronized)
    {
        if (_pps is null || !_pps.TryFetch(out PpsCapture edge) || edge.Sequence == _lastSequence)
        {
            return;
        }

        _lastSequence = edge.Sequence;
        if (_first || !synchronized)
        {
            // The first capture may be from long ago; and without a synchronized clock no second is numbered.
            _first = false;
            return;
        }

        double second = (edge.Time - NtpDuration.FromSeconds(Settings.Time1)).Fraction / 4294967296.0;
        double offset = second > 0.5 ? 1 - second : -second;
        if (Math.Abs(offset) > Aperture)
        {
            CountBadData(RefclockEvent.BadTime);
            return;
        }

        Timecode = $"{edge.Sequence} {edge.Time.Seconds}.{(ulong)edge.Time.Fraction * 1_000_000_000 >> 32:000000000}";
        Leap = LeapIndicator.NoWarning;
        ReferenceTime = edge.Time + NtpDuration.FromSeconds(offset);
        PpsUsedSincePoll = true;
        Samples.Add(offset);
    }
}
