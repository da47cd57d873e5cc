namespace Meridian.Engine;

/// <summary>
/// The RFC 5905 §10 clock filter: an eight-stage register of recent samples from one source. The sample with the
/// least delay is the one least disturbed by queueing, so it is chosen; the dispersion of the register and the RMS
/// offset differences (jitter) say how far to trust it.
/// </summary>
public sealed class ClockFilter
{
    private readonly Stage[] _register = new Stage[NtpConstants.FilterStages];
    private readonly Stage[] _sorted = new Stage[NtpConstants.FilterStages];
    private int _count;
    private double _lastTime;
    private double _lastUsedTime = double.NegativeInfinity;

    public ClockFilter(double precisionSeconds = 0)
    {
        PrecisionSeconds = precisionSeconds;
        Reset();
    }

    /// <summary>Floor for the jitter: a clock cannot be known better than it can be read.</summary>
    public double PrecisionSeconds { get; }

    /// <summary>Offset of the chosen (least-delay) sample, seconds.</summary>
    public double Offset { get; private set; }

    /// <summary>Delay of the chosen sample, seconds.</summary>
    public double Delay { get; private set; }

    /// <summary>Weighted dispersion of the register, seconds.</summary>
    public double Dispersion { get; private set; }

    /// <summary>RMS of the offset differences to the chosen sample, seconds.</summary>
    public double Jitter { get; private set; }

    /// <summary>Samples accepted so far (at most the number of stages are kept).</summary>
    public int Count => _count;

    /// <summary>The stages in the order the samples arrived, oldest first, empty stages last.</summary>
    public IReadOnlyList<Stage> StagesInArrivalOrder
    {
        get
        {
            var stages = new List<Stage>(NtpConstants.FilterStages);
            int filled = Math.Min(_count, NtpConstants.FilterStages);
            for (int i = filled - 1; i >= 0; i--)
            {
                stages.Add(_register[i]);
            }

            for (int i = filled; i < NtpConstants.FilterStages; i++)
            {
                stages.Add(Stage.Empty);
            }

            return stages;
        }
    }

    public void Reset()
    {
        Array.Fill(_register, Stage.Empty);
        _count = 0;
        _lastTime = 0;
        _lastUsedTime = double.NegativeInfinity;
        BestSampleTime = 0;
        Offset = 0;
        Delay = NtpConstants.MaxDispersion;
        Dispersion = NtpConstants.MaxDispersion;
        Jitter = 0;
    }

    /// <summary>Time of the sample the filter's output stands on.</summary>
    public double BestSampleTime { get; private set; }

    /// <summary>
    /// Adds a sample taken at <paramref name="now"/> (seconds on any monotonic scale) with its own dispersion
    /// (the precisions of both ends plus PHI times the delay), and recomputes the filter's outputs. Returns true when
    /// the chosen sample is newer than the one last returned true for: only then is there news for the clock, so
    /// the same sample is never used twice (RFC 5905 §10).
    /// </summary>
    public bool Add(OnWireSample sample, double sampleDispersion, double now)
    {
        double age = _count == 0 ? 0 : Math.Max(0, now - _lastTime);
        for (int i = NtpConstants.FilterStages - 1; i > 0; i--)
        {
            Stage older = _register[i - 1];
            _register[i] = older.IsEmpty ? older : older with { Dispersion = older.Dispersion + NtpConstants.Phi * age };
        }

        _register[0] = new Stage(sample.Offset.ToSeconds(), Math.Max(0, sample.Delay.ToSeconds()), sampleDispersion, now);
        _lastTime = now;
        _count++;
        Recompute();
        if (BestSampleTime <= _lastUsedTime)
        {
            return false;
        }

        _lastUsedTime = BestSampleTime;
        return true;
    }

    private void Recompute()
    {
        // Sort by synchronization distance, delay/2 + dispersion: dispersion grows with age, so an old sample is
        // not kept as the best for long merely because its delay was a little lower (ntpd's rule). Insertion sort
        // keeps the newer of two samples that differ by less than the precision.
        Array.Copy(_register, _sorted, _register.Length);
        for (int i = 1; i < _sorted.Length; i++)
        {
            Stage item = _sorted[i];
            int j = i - 1;
            while (j >= 0 && Distance(_sorted[j]) > Distance(item) + PrecisionSeconds)
            {
                _sorted[j + 1] = _sorted[j];
                j--;
            }

            _sorted[j + 1] = item;
        }

        double dispersion = 0;
        double weight = 0.5;
        int valid = 0;
        foreach (Stage stage in _sorted)
        {
            dispersion += Math.Min(stage.Dispersion, NtpConstants.MaxDispersion) * weight;
            weight /= 2;
            if (!stage.IsEmpty)
            {
                valid++;
            }
        }

        Stage best = _sorted[0];
        Offset = best.Offset;
        Delay = best.Delay;
        BestSampleTime = best.Time;
        Dispersion = dispersion;

        double sum = 0;
        for (int i = 1; i < valid; i++)
        {
            double d = _sorted[i].Offset - best.Offset;
            sum += d * d;
        }

        Jitter = Math.Max(valid > 1 ? Math.Sqrt(sum / (valid - 1)) : 0, PrecisionSeconds);
    }

    private static double Distance(Stage stage) => stage.Delay / 2 + stage.Dispersion;

    /// <summary>One register stage. An empty stage has the maximum delay and dispersion.</summary>
    public readonly record struct Stage(double Offset, double Delay, double Dispersion, double Time)
    {
        public static Stage Empty => new(0, NtpConstants.MaxDispersion, NtpConstants.MaxDispersion, 0);

        public bool IsEmpty => Delay >= NtpConstants.MaxDispersion;
    }
}
