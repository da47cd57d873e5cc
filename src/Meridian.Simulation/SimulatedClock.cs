using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Simulation;

/// <summary>How a simulated clock misbehaves.</summary>
public sealed record ClockModel
{
    /// <summary>Phase error at the start, seconds (positive: the clock is ahead).</summary>
    public double InitialOffset { get; init; }

    /// <summary>Frequency error at the start, seconds per second (20e-6 is +20 ppm: the clock runs fast).</summary>
    public double InitialFrequency { get; init; }

    /// <summary>Random-walk frequency wander: standard deviation of the frequency change per √s, s/s (1e-9 is 1 ppb/√s).</summary>
    public double Wander { get; init; }

    /// <summary>Reading resolution, seconds (0: exact).</summary>
    public double Resolution { get; init; }
}

/// <summary>
/// A clock in virtual time: its phase error integrates its own frequency error (which random-walks) plus the
/// correction the discipline sets. It is the engine's <see cref="IClock"/> and <see cref="IClockControl"/> at once,
/// and knows its true error, which no real clock does.
/// </summary>
public sealed class SimulatedClock : IClock, IClockControl
{
    /// <summary>Virtual time 0 is this instant unless the run's <see cref="VirtualTime.Epoch"/> says otherwise.</summary>
    public static readonly NtpTimestamp Epoch = NtpTimestamp.FromDateTime(new DateTime(2026, 11, 22, 0, 0, 0, DateTimeKind.Utc));

    private readonly ClockModel _model;
    private readonly Random _random;
    private readonly VirtualTime _time;
    private double _offset;
    private double _frequencyError;
    private double _correction;
    private double _lastTime;

    public SimulatedClock(VirtualTime time, ClockModel model, Random random)
    {
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _random = random ?? throw new ArgumentNullException(nameof(random));
        _offset = model.InitialOffset;
        _frequencyError = model.InitialFrequency;
        _lastTime = time.Now;
    }

    public bool CanAdjust { get; set; } = true;

    /// <summary>Steps made by the discipline.</summary>
    public int Steps { get; private set; }

    /// <summary>The correction in force, s/s.</summary>
    public double Correction => _correction;

    /// <summary>The clock's true error now: its reading minus true UTC, seconds.</summary>
    public double Error
    {
        get
        {
            Now();
            return _offset + _time.LeapsSince(_time.Now);
        }
    }

    /// <summary>The clock's free-running frequency error now, s/s.</summary>
    public double FrequencyError
    {
        get
        {
            Advance();
            return _frequencyError;
        }
    }

    public NtpTimestamp Now()
    {
        Advance();
        PerformLeap();
        double reading = _time.Now + _offset;
        if (_model.Resolution > 0)
        {
            reading = Math.Floor(reading / _model.Resolution) * _model.Resolution;
        }

        return _time.Epoch + NtpDuration.FromSeconds(reading);
    }

    public void Step(double seconds)
    {
        if (!CanAdjust)
        {
            return;
        }

        Advance();
        _offset += seconds;
        Steps++;
    }

    public void SetFrequency(double secondsPerSecond)
    {
        if (!CanAdjust)
        {
            return;
        }

        Advance();
        _correction = Math.Clamp(secondsPerSecond, -500e-6, 500e-6);
    }

    /// <summary>The leap second the discipline has armed; the clock performs it at the next midnight, as Linux does.</summary>
    public LeapIndicator ArmedLeap { get; private set; }

    /// <summary>Leaps this clock performed: its reading was stepped back (inserted) or forward (deleted) one second.</summary>
    public int LeapsPerformed { get; private set; }

    private double _armedMidnight = double.NaN;
    private bool _performed;

    public bool SetLeap(LeapIndicator leap)
    {
        if (CanAdjust)
        {
            NtpTimestamp now = Now();
            ArmedLeap = leap;
            LeapCalls.Add((now.ToDateTime(), leap));
            // The end of the current UTC day (NTP seconds count from a midnight); disarming ends the leap state (TIME_WAIT).
            _armedMidnight = leap is LeapIndicator.AddSecond or LeapIndicator.DeleteSecond ? (Math.Floor(LeapTable.Seconds(now) / 86400) + 1) * 86400 : double.NaN;
            _performed = false;
        }

        return true;
    }

    /// <summary>
    /// Linux's leap: at the armed midnight an insertion steps the clock back one second (23:59:59 comes twice), a
    /// deletion steps it forward from 23:59:59 to midnight; once per arming.
    /// </summary>
    private void PerformLeap()
    {
        if (double.IsNaN(_armedMidnight) || _performed)
        {
            return;
        }

        double reading = LeapTable.Seconds(_time.Epoch) + _time.Now + _offset;
        if (ArmedLeap == LeapIndicator.AddSecond && reading >= _armedMidnight)
        {
            _offset -= 1;
        }
        else if (ArmedLeap == LeapIndicator.DeleteSecond && reading >= _armedMidnight - 1)
        {
            _offset += 1;
        }
        else
        {
            return;
        }

        _performed = true;
        LeapsPerformed++;
    }

    /// <summary>TAI − UTC as the discipline last set it (0: never set).</summary>
    public int TaiOffset { get; private set; }

    /// <summary>Every TAI − UTC the engine set, with the clock's UTC reading when it did.</summary>
    public List<(DateTime Utc, int Offset)> TaiCalls { get; } = new();

    public bool SetTaiOffset(int seconds)
    {
        if (CanAdjust)
        {
            TaiOffset = seconds;
            TaiCalls.Add((Now().ToDateTime(), seconds));
        }

        return true;
    }

    /// <summary>Every arming and disarming, with the clock's UTC reading when it happened.</summary>
    public List<(DateTime Utc, LeapIndicator Leap)> LeapCalls { get; } = new();

    /// <summary>What the kernel was last told: synchronized or not, with the error bounds (seconds).</summary>
    public (bool Synchronized, double MaxError, double EstimatedError)? Status { get; private set; }

    /// <summary>How many times the status was set: on every clock update while synchronized.</summary>
    public int StatusUpdates { get; private set; }

    public void SetStatus(bool synchronized, double maxError, double estimatedError)
    {
        if (CanAdjust)
        {
            Status = (synchronized, maxError, estimatedError);
            StatusUpdates++;
        }
    }

    /// <summary>Integrates phase over the time since the last look, with the wander as one-second random-walk steps.</summary>
    private void Advance()
    {
        double now = _time.Now;
        while (now > _lastTime)
        {
            double step = Math.Min(1.0, now - _lastTime);
            double nextFrequency = _frequencyError;
            if (_model.Wander > 0)
            {
                nextFrequency += _model.Wander * Math.Sqrt(step) * Gaussian();
            }

            // Trapezoid: the frequency changes linearly across the step.
            _offset += ((_frequencyError + nextFrequency) / 2 + _correction) * step;
            _frequencyError = nextFrequency;
            _lastTime += step;
        }
    }

    private double Gaussian()
    {
        double u1 = 1 - _random.NextDouble();
        double u2 = _random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
