namespace Meridian.Engine;

/// <summary>
/// ntpd's clock discipline (RFC 5905 Appendix A.5.5 and ntpd 4.2.8's loop filter): a phase-locked loop whose time
/// constant grows with the poll interval, blended with a frequency-locked loop above the Allan intercept; the
/// residual phase is slewed a fraction at a time every second; the poll interval climbs while offsets stay within
/// four times the jitter. With <c>enable kernel</c> (ntpd's default on Linux) the offsets drive an emulation of the
/// Linux kernel PLL instead, which is what ntpd on Linux really runs. Kept for compatibility and as the yardstick
/// that shows the simulator measures what clknetsim measures.
/// </summary>
public sealed class ClassicDiscipline : IClockDiscipline
{
    /// <summary>PLL loop gain (log2 of the time constant multiplier).</summary>
    public const double Pll = 16;

    /// <summary>FLL gain base: the FLL weight is 1 / (Fll - poll).</summary>
    public const double Fll = 18;

    /// <summary>Averaging constant for jitter and wander.</summary>
    public const double Average = 8;

    /// <summary>Poll-adjust hysteresis limit.</summary>
    public const int Limit = 30;

    /// <summary>Poll-adjust gate: offsets within this many jitters count towards a longer poll.</summary>
    public const double PollGate = 4;

    /// <summary>Allan intercept, seconds (<c>tinker allan</c>).</summary>
    public const double AllanIntercept = 1500;

    /// <summary>Linux's kernel PLL shift (kernel/time/ntp.c): phase time constant 2^(2+poll) s.</summary>
    public const int KernelShiftPll = 2;

    private readonly IClockControl _clock;
    private readonly DisciplineSettings _settings;
    private readonly StepGate _gate;
    private readonly double _precision;
    private State _state;
    private double _frequency;
    private double _offset;
    private double _lastOffset;
    private double _lastUpdate = double.NaN;
    private double _freqMeasureStart;
    private int _counter;
    private readonly PollInterval _poll = new();

    /// <param name="clock">The clock to discipline.</param>
    /// <param name="settings">Step, stepout and panic thresholds.</param>
    /// <param name="precisionSeconds">The clock's read precision, a floor for the jitter.</param>
    /// <param name="kernel">
    /// <c>enable kernel</c> (ntpd's default on Linux): the offsets go to the kernel's PLL, which this emulates,
    /// instead of the daemon's own loop.
    /// </param>
    public ClassicDiscipline(IClockControl clock, DisciplineSettings settings, double precisionSeconds = 1e-6, bool kernel = true)
    {
        Kernel = kernel;
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _gate = new StepGate(settings);
        _precision = precisionSeconds;
        _state = settings.InitialFrequency is double f ? State.FrequencySet : State.NotSet;
        _frequency = Math.Clamp(settings.InitialFrequency ?? 0, -settings.MaxFrequency, settings.MaxFrequency);
        Jitter = precisionSeconds;
    }

    private enum State
    {
        NotSet,
        FrequencySet,
        Frequency,
        Sync,
    }

    public string Name => Kernel ? "classic (kernel PLL)" : "classic";

    /// <summary>True when the kernel PLL is emulated (<c>enable kernel</c>).</summary>
    public bool Kernel { get; }

    public bool WantsEverySample => false;

    public int PollExponent => _poll.Exponent;

    public double Frequency => _frequency;

    public double ResidualOffset => _offset;

    public double Jitter { get; private set; }

    public double Wander { get; private set; }

    public void SetPollLimits(int minPoll, int maxPoll) => _poll.SetLimits(minPoll, maxPoll);

    public DisciplineAction Update(double offset, double delay, double dispersion, double now)
    {
        DisciplineAction action = _gate.Judge(offset, now);
        if (action is DisciplineAction.Panic or DisciplineAction.Ignored)
        {
            return action;
        }

        double mu = double.IsNaN(_lastUpdate) ? 0 : now - _lastUpdate;
        if (action == DisciplineAction.Stepped)
        {
            _clock.Step(offset);
            _offset = 0;
            _lastOffset = 0;
            _lastUpdate = now;
            if (_state is State.NotSet or State.Frequency)
            {
                _state = State.Frequency;
                _freqMeasureStart = now;
            }

            _poll.Reset();
            _counter = 0;
            return action;
        }

        double jitterSample = Math.Max(Math.Abs(offset - _lastOffset), _precision);
        switch (_state)
        {
            case State.NotSet:
                // No frequency known: slew this offset, then measure the frequency over a stepout.
                _offset = offset;
                _lastOffset = offset;
                _lastUpdate = now;
                _state = State.Frequency;
                _freqMeasureStart = now;
                return action;

            case State.FrequencySet:
                _state = State.Sync;
                break;

            case State.Frequency:
                if (now - _freqMeasureStart < _settings.Stepout)
                {
                    return DisciplineAction.Ignored;
                }

                // Direct frequency measurement: what drifted in besides what was slewed.
                _frequency = Math.Clamp(_frequency + (offset - _offset) / Math.Max(mu, 1), -_settings.MaxFrequency, _settings.MaxFrequency);
                _state = State.Sync;
                break;

            default:
                if (Kernel)
                {
                    // The kernel PLL: frequency gain offset·secs / 2^(2·(SHIFT_PLL + 2 + poll)), with the interval
                    // clamped to 2^(SHIFT_PLL + 1 + poll) (Linux ntp_update_offset).
                    double secs = Math.Min(mu, Math.Pow(2, KernelShiftPll + 1 + PollExponent));
                    double kernelAdjust = offset * secs / Math.Pow(2, 2 * (KernelShiftPll + 2 + PollExponent));
                    double previous = _frequency;
                    _frequency = Math.Clamp(_frequency + kernelAdjust, -_settings.MaxFrequency, _settings.MaxFrequency);
                    double kernelChange = _frequency - previous;
                    Wander = Math.Sqrt(Wander * Wander + ((kernelChange * kernelChange) - Wander * Wander) / Average);
                    break;
                }

                double fll = 0;
                if (Math.Pow(2, PollExponent) > AllanIntercept / 2)
                {
                    fll = (offset - _offset) / (Math.Max(mu, AllanIntercept) * (Fll - PollExponent));
                }

                double interval = Math.Min(AllanIntercept, mu);
                double gain = 4 * Pll * Math.Pow(2, PollExponent);
                double pll = offset * interval / (gain * gain);
                double before = _frequency;
                _frequency = Math.Clamp(_frequency + fll + pll, -_settings.MaxFrequency, _settings.MaxFrequency);
                double change = _frequency - before;
                Wander = Math.Sqrt(Wander * Wander + ((change * change) - Wander * Wander) / Average);
                break;
        }

        _offset = offset;
        Jitter = Math.Sqrt(Jitter * Jitter + ((jitterSample * jitterSample) - Jitter * Jitter) / Average);
        AdjustPoll();
        _lastOffset = offset;
        _lastUpdate = now;
        return action;
    }

    /// <summary>ntpd's adj_host_clock: slew 1/(16·2^poll) of the residual this second, on top of the frequency.</summary>
    public void Tick(double now)
    {
        // The daemon slews 1/(16·2^poll) of the residual a second; the kernel 1/2^(SHIFT_PLL + poll).
        double divisor = Kernel ? Math.Pow(2, KernelShiftPll + PollExponent) : Pll * Math.Pow(2, PollExponent);
        double adjustment = _offset / divisor;
        _offset -= adjustment;
        _clock.SetFrequency(_frequency + adjustment);
    }

    private void AdjustPoll()
    {
        if (Math.Abs(_offset) < PollGate * Jitter)
        {
            _counter += PollExponent;
            if (_counter > Limit)
            {
                _counter = Limit;
                if (PollExponent < _poll.Max)
                {
                    _counter = 0;
                    _poll.Exponent++;
                }
            }
        }
        else
        {
            _counter -= PollExponent << 1;
            if (_counter < -Limit)
            {
                _counter = -Limit;
                if (PollExponent > _poll.Min)
                {
                    _counter = 0;
                    _poll.Exponent--;
                }
            }
        }
    }
}
