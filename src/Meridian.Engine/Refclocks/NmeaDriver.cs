using System.Globalization;
using System.Text;
using Meridian.Protocol;

namespace Meridian.Engine.Refclocks;

/// <summary>
/// ntpd's generic NMEA GPS driver (type 20, <c>127.127.20.u</c>): the receiver's sentences on a serial line number
/// the second, the arrival of a sentence's end less <c>fudge time2</c> (the serial delay) is when that second
/// began, and with <c>flag1</c> a PPS edge on <c>/dev/gppsU</c> gives the phase to the microsecond while the
/// sentences still say which second it is. <c>mode</c> selects sentences (bits 0–3: RMC, GGA, GLL, ZDA/ZDG; none set:
/// all) and the speed (bits 4–6: 4800, 9600, 19200, 38400, 57600, 115200), as ntpd 4.2.8 documents them.
/// </summary>
public sealed class NmeaDriver : RefclockDriver
{
    public const int Type = 20;

    /// <summary>Bit 18: trust the receiver's date, do not map it into the GPS era (ntpd 4.2.8's 0x40000).</summary>
    public const int TrustDate = 0x40000;

    /// <summary>A time-only sentence (GGA, GLL) takes its date from a dated one heard at most this long ago.</summary>
    private const double DateHold = 16;

    /// <summary>
    /// The start of the 1024-week era a receiver's date is mapped into: a receiver whose firmware predates a GPS
    /// week rollover reports dates 19.6 years in the past, and no date before this build can be right.
    /// </summary>
    public static readonly DateTime EraBase = new(2026, 11, 15, 0, 0, 0, DateTimeKind.Utc);

    private static readonly int[] Speeds = [4800, 9600, 19200, 38400, 57600, 115200, 4800, 4800];

    private readonly byte[] _line = new byte[128];
    private int _length;
    private bool _overflow;
    private IRefclockLine? _serial;
    private IPpsSource? _pps;
    private bool _ppsTried;
    private bool _gpsTimescale;
    private readonly HashSet<NmeaKind> _checksummed = [NmeaKind.Rmc];
    private NtpTimestamp _lastReference;
    private (DateTime Time, NtpTimestamp Arrival)? _heldDate;
    private long _accepted;
    private long _rejected;
    private long _filtered;
    private long _ppsUsed;

    public NmeaDriver(RefclockSettings settings)
        : base(settings)
    {
    }

    public override string Name => $"GPS_NMEA({Settings.Unit})";

    public override string Description => "NMEA GPS Clock";

    public override string DefaultReferenceId => "GPS";

    public string DevicePath => Settings.Path ?? $"/dev/gps{Settings.Unit}";

    public string PpsPath => Settings.PpsPath ?? $"/dev/gpspps{Settings.Unit}";

    /// <summary>The line speed: NTPsec's <c>baud</c>, else mode bits 4–6.</summary>
    public int Baud => Settings.Baud ?? Speeds[(Settings.Mode >> 4) & 7];

    public override IEnumerable<(string Name, string Value)> Variables =>
    [
        ("nmea_accepted", N(_accepted)), ("nmea_rejected", N(_rejected)), ("nmea_filtered", N(_filtered)), ("nmea_ppsused", N(_ppsUsed)),
        ("nmea_pps", _pps is { IsOpen: true } ? "\"" + PpsPath + "\"" : "\"none\""),
    ];

    protected override bool IsOpen => _serial is { IsOpen: true };

    protected override string OpenedMessage => $"{DevicePath} opened at {Baud} bps" + (Settings.Flag(1) ? $"; PPS from {PpsPath}" + (_pps is null ? " not available" : "") : "");

    protected override bool Open(IRefclockDevices devices, out string? error)
    {
        _serial?.Dispose();
        _serial = devices.OpenLine(DevicePath, Baud, Receive, out error);
        _length = 0;
        _overflow = false;
        if (_serial is null)
        {
            return false;
        }

        if (Settings.Flag(1) && (_pps is null || !_pps.IsOpen))
        {
            OpenPps(devices);
        }

        return true;
    }

    private void OpenPps(IRefclockDevices devices)
    {
        _pps?.Dispose();
        _pps = devices.OpenPps(PpsPath, out string? error);
        if (_pps is not null && !_pps.Configure(Settings.Flag(2), out error))
        {
            _pps.Dispose();
            _pps = null;
        }

        if (_pps is null && !_ppsTried)
        {
            Log($"{Name}: flag1 asks for PPS, but {error}; the serial timecode alone is used");
        }

        _ppsTried = true;
    }

    public override void Close()
    {
        _serial?.Dispose();
        _serial = null;
        _pps?.Dispose();
        _pps = null;
    }

    /// <summary>Bytes from the serial line: sentences end at CR or LF, and each one is handled as it ends.</summary>
    public void Receive(ReadOnlySpan<byte> data, NtpTimestamp arrival)
    {
        foreach (byte b in data)
        {
            if (b is (byte)'\r' or (byte)'\n')
            {
                if (_overflow)
                {
                    CountBadFormat();
                }
                else if (_length > 0)
                {
                    Sentence(_line.AsSpan(0, _length), arrival);
                }

                _length = 0;
                _overflow = false;
            }
            else if (_length < _line.Length)
            {
                _line[_length++] = b;
            }
            else
            {
                _overflow = true;
            }
        }
    }

    private void Sentence(ReadOnlySpan<byte> line, NtpTimestamp arrival)
    {
        NmeaStatus status = NmeaSentence.TryParse(line, out NmeaSentence sentence);
        switch (status)
        {
            case NmeaStatus.Empty or NmeaStatus.Unsupported:
                return;
            case NmeaStatus.BadSyntax or NmeaStatus.BadChecksum:
                Timecode = Text(line);
                CountBadFormat();
                return;
            case NmeaStatus.BadTime:
                Timecode = Text(line);
                CountBadData(RefclockEvent.BadTime);
                return;
            case NmeaStatus.BadDate:
                Timecode = Text(line);
                CountBadData(RefclockEvent.BadDate);
                return;
        }

        if (!Selected(sentence.Kind) || (_gpsTimescale && sentence.Kind != NmeaKind.Zdg))
        {
            _filtered++;
            return;
        }

        if (!sentence.HasChecksum && _checksummed.Contains(sentence.Kind))
        {
            // A receiver that checksums a sentence always does: one without is damaged (RMC must always carry one).
            Timecode = Text(line);
            CountBadFormat();
            return;
        }

        if (sentence.HasChecksum)
        {
            _checksummed.Add(sentence.Kind);
        }

        Timecode = Text(line);
        if (!sentence.Valid)
        {
            // No fix: the receiver's clock is free-running or unset, and its time is no time.
            _rejected++;
            CountBadFormat();
            return;
        }

        if (sentence.Kind == NmeaKind.Zdg && !_gpsTimescale)
        {
            _gpsTimescale = true;
            Log($"{Name}: $GPZDG received: using GPS time as if it were UTC, other sentences are ignored from now on");
        }

        NtpTimestamp? reference = ReferenceOf(sentence, arrival);
        if (reference is not NtpTimestamp second)
        {
            CountBadData(RefclockEvent.BadDate);
            return;
        }

        if (second == _lastReference)
        {
            // One sample per second: the second sentence of the same second says nothing new.
            _filtered++;
            return;
        }

        _lastReference = second;
        _accepted++;
        NtpTimestamp local = arrival - NtpDuration.FromSeconds(Settings.Time2);
        bool phased = false;
        if (_pps is { IsOpen: true } pps && pps.TryFetch(out PpsCapture edge))
        {
            // The edge numbers nothing; the sentence does. Move the serial time to the edge nearest it, unless the
            // edge is stale (seconds away) or halfway between (no telling which second it began).
            double d = ((edge.Time - NtpDuration.FromSeconds(Settings.Time1)) - local).ToSeconds();
            double fraction = d - Math.Round(d);
            if (Math.Abs(d) <= 2.5 && Math.Abs(fraction) <= 0.45)
            {
                local += NtpDuration.FromSeconds(fraction);
                phased = true;
            }
        }

        double offset = (second - local).ToSeconds();
        if (phased && Math.Abs(offset) < 0.5)
        {
            PpsUsedSincePoll = true;
            _ppsUsed++;
            Precision = -20;
        }
        else
        {
            Precision = -9;
        }

        Leap = LeapIndicator.NoWarning;
        ReferenceTime = second;
        Samples.Add(offset);
    }

    private bool Selected(NmeaKind kind)
    {
        int mask = Settings.Mode & 0x0F;
        if (mask == 0)
        {
            return true;
        }

        int bit = kind switch { NmeaKind.Rmc => 1, NmeaKind.Gga => 2, NmeaKind.Gll => 4, _ => 8 };
        return (mask & bit) != 0;
    }

    /// <summary>
    /// The second the sentence names, as an NTP timestamp: its date completed (two-digit years 1980–2079; a
    /// time-only sentence takes the date held from a dated one, else the day of its arrival within ±12 h), then
    /// mapped into the GPS era that starts at <see cref="EraBase"/> unless <see cref="TrustDate"/> is set.
    /// </summary>
    private NtpTimestamp? ReferenceOf(NmeaSentence s, NtpTimestamp arrival)
    {
        DateTime time;
        TimeSpan ofDay = new TimeSpan(s.Time.Hour, s.Time.Minute, 0) + TimeSpan.FromSeconds(s.Time.Second) + TimeSpan.FromTicks(s.Time.Nanosecond / 100);
        if (s.Date is NmeaDate date)
        {
            int year = date.TwoDigitYear ? (date.Year < 80 ? 2000 + date.Year : 1900 + date.Year) : date.Year;
            if (date.Day > DateTime.DaysInMonth(year, date.Month))
            {
                return null;
            }

            time = new DateTime(year, date.Month, date.Day, 0, 0, 0, DateTimeKind.Utc) + ofDay;
            if ((Settings.Mode & TrustDate) == 0)
            {
                while (time < EraBase)
                {
                    time = time.AddDays(7 * 1024);
                }
            }

            _heldDate = (time, arrival);
        }
        else
        {
            DateTime expected = _heldDate is { } held && (arrival - held.Arrival).ToSeconds() is >= 0 and <= DateHold
                ? held.Time.AddSeconds((arrival - held.Arrival).ToSeconds())
                : arrival.ToDateTime();
            DateTime day = expected.Date;
            time = new[] { day.AddDays(-1) + ofDay, day + ofDay, day.AddDays(1) + ofDay }.MinBy(t => Math.Abs((t - expected).TotalSeconds));
        }

        if (s.Kind == NmeaKind.Zdg)
        {
            // Accord's $GPZDG names the second the next pulse begins.
            time = time.AddSeconds(-1);
        }

        return NtpTimestamp.FromDateTime(time);
    }

    private string Text(ReadOnlySpan<byte> line)
    {
        if (!Settings.Flag(4))
        {
            return Latin(line);
        }

        Span<byte> hidden = stackalloc byte[line.Length];
        int n = NmeaSentence.Obscure(line, hidden);
        return Latin(hidden[..n]);
    }

    private static string Latin(ReadOnlySpan<byte> line)
    {
        var text = new StringBuilder(line.Length);
        foreach (byte b in line)
        {
            char c = (char)(b & 0x7F);
            text.Append(c is >= ' ' and <= '~' && c != '"' ? c : '.');
        }

        return text.ToString();
    }

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);
}
