namespace Meridian.Engine;

/// <summary>
/// Meridian's default clock discipline: a Kalman filter over the free-running clock.
/// <para>
/// Every correction the discipline makes is remembered, so each measured offset θ becomes the offset of the
/// free-running clock, <c>u = θ + C(t)</c>, which corrections (slews, frequency changes, steps) do not disturb. Its
/// model is the one oscillators follow: phase integrates frequency, frequency random-walks (wander), and each
/// measurement carries noise. The noise of a sample is known from its delay: with queueing on both paths, a sample
/// that saw <c>e</c> more delay than the best recent one has an offset error spread evenly over ±e/2, variance
/// e²/12, so congested samples count for little without being thrown away. Neither the wander nor the true scale
/// of the noise is known, so a bank of filters spanning wander from 10⁻¹¹ to 10⁻⁷ s/s per √s and noise scales
/// from ½ to 16 runs side by side, and the one whose predictions have recently been the most likely is used.
/// </para>
/// <para>
/// The estimated frequency becomes the frequency correction at once; the estimated phase is slewed out within a
/// small fraction of the poll interval. The poll interval is the longest for which the phase uncertainty that the
/// wander adds between polls stays below the measurement noise, within minpoll and maxpoll. Gaps of any length are
/// handled by the same prediction step: the uncertainty simply grows with the gap.
/// </para>
/// </summary>
public sealed class AdaptiveDiscipline : IClockDiscipline
{
    /// <summary>The wander values (s/s per √s) of the filter bank.</summary>
    private static readonly double[] WanderBank = [1e-11, 3e-11, 1e-10, 3e-10, 1e-9, 3e-9, 1e-8, 3e-8, 1e-7];

    /// <summary>Scales of the measurement noise model in the bank: the delay-based variance may be off by these factors.</summary>
    private static readonly double[] NoiseScaleBank = [0.5, 1, 2, 4, 8, 16];

    /// <summary>Memory of the likelihood comparison, per sample.</summary>
    public const double LikelihoodMemory = 0.95;

    /// <summary>Innovations beyond this many standard deviations have their weight cut (outliers, path changes).</summary>
    public const double OutlierSigmas = 4;

    /// <summary>Longer polls only while the phase estimate is better than this (seconds).</summary>
    public const double PollBudget = 100e-6;

    /// <summary>Delays remembered for the noise model (the best of them stands for the path's base delay).</summary>
    private const int DelayHistory = 256;

    /// <summary>Samples remembered for the envelope estimate of the phase.</summary>
    private const int EnvelopeHistory = 64;

    private readonly IClockControl _clock;
    private readonly DisciplineSettings _settings;
    private readonly StepGate _gate;
    private readonly double _precision;
    private readonly Kalman[] _bank;
    private readonly Queue<double> _delays = new();
    private readonly Queue<Sample> _window = new();
    private readonly Sample[] _scratch = new Sample[EnvelopeHistory];
    private double _correction;
    private double _applied;
    private double _lastAdvance = double.NaN;
    private double _frequency;
    private double _residual;
    private double _noise;
    private int _samples;
    private int _best;
    private readonly PollInterval _poll = new();
    private bool _frequencyKnown;

    public AdaptiveDiscipline(IClockControl clock, DisciplineSettings settings, double precisionSeconds = 1e-6)
    {
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _gate = new StepGate(settings);
        _precision = Math.Max(precisionSeconds, 1e-9);
        _frequencyKnown = settings.InitialFrequency.HasValue;
        _frequency = Math.Clamp(settings.InitialFrequency ?? 0, -settings.MaxFrequency, settings.MaxFrequency);
        _applied = _frequency;
        _bank = WanderBank.SelectMany(w => NoiseScaleBank.Select(n => new Kalman(w * w, n))).ToArray();
        Jitter = _precision;
    }

    public string Name => "adaptive";

    public bool WantsEverySample => true;

    public int PollExponent => _poll.Exponent;

    public double Frequency => _frequency;

    public double ResidualOffset => _residual;

    public double Jitter { get; private set; }

    public double Wander => Math.Sqrt(_bank[_best].Q);

    /// <summary>Standard deviation of the phase estimate, seconds.</summary>
    public double PhaseUncertainty => Math.Sqrt(Math.Max(0, _bank[_best].Puu));

    public void SetPollLimits(int minPoll, int maxPoll) => _poll.SetLimits(minPoll, maxPoll);

    public DisciplineAction Update(double offset, double delay, double dispersion, double now)
    {
        DisciplineAction action = _gate.Judge(offset, now);
        if (action is DisciplineAction.Panic or DisciplineAction.Ignored)
        {
            return action;
        }

        Advance(now);
        double raw = offset + _correction;
        if (action == DisciplineAction.Stepped)
        {
            _clock.Step(offset);
            _correction += offset;
            _residual = 0;
            _poll.Reset();
        }

        double variance = MeasurementVariance(Math.Max(delay, 0));
        _noise = _samples == 0 ? variance : 0.9 * _noise + 0.1 * variance;
        _samples++;
        double bestScore = double.NegativeInfinity;
        for (int i = 0; i < _bank.Length; i++)
        {
            Kalman k = _bank[i];
            if (!k.Initialized)
            {
                k.Initialize(now, raw, variance * k.NoiseScale, _frequency, _frequencyKnown ? 1e-12 : 1e-10);
            }
            else
            {
                k.Predict(now);
                k.Update(raw, variance * k.NoiseScale);
            }

            if (k.Score > bestScore)
            {
                bestScore = k.Score;
                _best = i;
            }
        }

        Kalman best = _bank[_best];
        _frequency = Math.Clamp(best.F, -_settings.MaxFrequency, _settings.MaxFrequency);
        _residual = best.U - _correction;
        _window.Enqueue(new Sample(now, raw, Math.Max(delay, 0)));
        if (_window.Count > EnvelopeHistory)
        {
            _window.Dequeue();
        }

        if (EnvelopeEstimate(best, now) is (double phase, double envelopeVariance))
        {
            // Two estimates of the same phase, combined by their uncertainties.
            double weight = best.Puu / (best.Puu + envelopeVariance);
            _residual = best.U + weight * (phase - best.U) - _correction;
        }

        Jitter = Math.Max(Math.Sqrt(best.InnovationPower), _precision);
        AdjustPoll();
        return action;
    }

    public void Tick(double now)
    {
        Advance(now);
        double tau = Math.Clamp(Math.Pow(2, PollExponent) / 16, 2, 64);
        double room = _settings.MaxFrequency - Math.Abs(_frequency);
        double slew = Math.Clamp(_residual / tau, -room, room);
        _residual -= slew;
        _applied = _frequency + slew;
        _clock.SetFrequency(_applied);
    }

    /// <summary>Variance of a sample's offset error: e²/12 for an excess delay e, plus the reading precision.</summary>
    private double MeasurementVariance(double delay)
    {
        _delays.Enqueue(delay);
        if (_delays.Count > DelayHistory)
        {
            _delays.Dequeue();
        }

        // Even the best recent sample queued a little: about an eighth of the mean excess delay.
        double min = _delays.Min();
        double floor = (_delays.Average() - min) / 8;
        double excess = delay - min + floor;
        return excess * excess / 12 + _precision * _precision;
    }

    /// <summary>
    /// The phase from the envelope of recent samples. Each sample bounds the free-running phase: it cannot be more
    /// than the outbound path delay above the measured offset, nor more than the return delay below it, so
    /// <c>u + d/2</c> is the phase plus the outbound queueing and <c>u − d/2</c> the phase minus the return queueing.
    /// The lowest of the first and the highest of the second, over the last n samples brought to now with the
    /// filter's frequency, bracket the phase to within the least queueing seen each way, which shrinks like 1/n
    /// rather than the 1/√n of an average. The unknown base delay moves both bounds equally and cancels in the
    /// midpoint. n is chosen where that 1/n term balances the error the frequency estimate and the wander add over
    /// the window's age.
    /// </summary>
    private (double Phase, double Variance)? EnvelopeEstimate(Kalman filter, double now)
    {
        if (_window.Count < 4)
        {
            return null;
        }

        _window.CopyTo(_scratch, 0);
        double queueing = Math.Max((_delays.Average() - _delays.Min()) / 2, _precision);
        double upper = double.PositiveInfinity;
        double lower = double.NegativeInfinity;
        double bestVariance = double.PositiveInfinity;
        double bestPhase = 0;
        for (int n = 1; n <= _window.Count; n++)
        {
            Sample s = _scratch[_window.Count - n];
            double age = now - s.Time;
            double u = s.Phase + filter.F * age;
            upper = Math.Min(upper, u + s.Delay / 2);
            lower = Math.Max(lower, u - s.Delay / 2);
            if (n < 4)
            {
                continue;
            }

            double least = queueing / n;
            double variance = least * least / 2 + filter.Pff * age * age / 4 + filter.Q * age * age * age / 12 + _precision * _precision;
            if (variance < bestVariance)
            {
                bestVariance = variance;
                bestPhase = (upper + lower) / 2;
            }
        }

        return (bestPhase, bestVariance);
    }

    /// <summary>
    /// The longest poll for which the wander between polls adds less phase uncertainty than one measurement has,
    /// once the phase is known to within <see cref="PollBudget"/>.
    /// </summary>
    private void AdjustPoll()
    {
        if (_samples < 8)
        {
            return;
        }

        double wander = _bank[_best].Q;
        double noise = Math.Max(_noise * _bank[_best].NoiseScale, _precision * _precision);
        int target = _poll.Min;
        // While the estimate is poor, more samples help more than anything: stay at minpoll.
        if (PhaseUncertainty <= PollBudget)
        {
            for (int p = _poll.Min; p <= _poll.Max; p++)
            {
                double t = Math.Pow(2, p);
                if (wander * t * t * t / 3 <= noise / 4)
                {
                    target = p;
                }
            }
        }

        // Lengthen one step at a time; shorten at once.
        _poll.Exponent = target > PollExponent ? PollExponent + 1 : target;
    }

    private void Advance(double now)
    {
        if (!double.IsNaN(_lastAdvance))
        {
            _correction += _applied * (now - _lastAdvance);
        }

        _lastAdvance = now;
    }

    private readonly record struct Sample(double Time, double Phase, double Delay);

    /// <summary>One two-state (phase, frequency) Kalman filter with a fixed wander and noise scale.</summary>
    private sealed class Kalman(double q, double noiseScale)
    {
        public double Q { get; } = q;

        public double NoiseScale { get; } = noiseScale;

        public bool Initialized { get; private set; }

        public double U { get; private set; }

        public double F { get; private set; }

        public double Puu { get; private set; }

        public double Score { get; private set; }

        public double InnovationPower { get; private set; }

        private double _puf;
        public double Pff => _pff;
        private double _pff;
        private int _outliers;
        private double _time;

        public void Initialize(double time, double u, double variance, double frequency, double frequencyVariance)
        {
            _time = time;
            U = u;
            F = frequency;
            Puu = variance + 1e-8;
            _puf = 0;
            _pff = frequencyVariance;
            Initialized = true;
        }

        public void Predict(double time)
        {
            double dt = Math.Max(0, time - _time);
            _time = time;
            U += F * dt;
            Puu += 2 * dt * _puf + dt * dt * _pff + Q * dt * dt * dt / 3;
            _puf += dt * _pff + Q * dt * dt / 2;
            _pff += Q * dt;
        }

        public void Update(double z, double r)
        {
            double innovation = z - U;
            double s = Puu + r;
            double limit = OutlierSigmas * OutlierSigmas * s;
            if (innovation * innovation > limit && ++_outliers < 3)
            {
                // Too far out to be the noise we expect: count it, but as if it were noisier. Three in a row are
                // not outliers but a change (a step of the path delay, or the clock after an outage): accept them.
                s = innovation * innovation / (OutlierSigmas * OutlierSigmas);
                r = s - Puu;
            }
            else if (innovation * innovation <= limit)
            {
                _outliers = 0;
            }

            Score = LikelihoodMemory * Score - 0.5 * (innovation * innovation / s + Math.Log(s));
            InnovationPower = InnovationPower == 0 ? innovation * innovation : 0.9 * InnovationPower + 0.1 * innovation * innovation;
            double ku = Puu / s;
            double kf = _puf / s;
            U += ku * innovation;
            F += kf * innovation;
            double puu = Puu;
            double puf = _puf;
            Puu = (1 - ku) * puu;
            _puf = (1 - ku) * puf;
            _pff -= kf * puf;
        }
    }
}
