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
        Offset = 0;
        Delay = NtpConstants.MaxDispersion;
        Dispersion = NtpConstants.MaxDispersion;
        Jitter = 0;
    }

    /// <summary>
    /// Adds a sample taken at <paramref name="now"/> (seconds on any monotonic scale) with its own dispersion
    /// (the precisions of both ends plus PHI times the delay), and recomputes the filter's outputs.
    /// </summary>
    public void Add(OnWireSample sample, double sampleDispersion, double now)
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
    }

    private void Recompute()
    {
        Array.Copy(_register, _sorted, _register.Length);
        Array.Sort(_sorted, static (a, b) => a.Delay.CompareTo(b.Delay));

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
        Dispersion = dispersion;

        double sum = 0;
        for (int i = 1; i < valid; i++)
        {
            double d = _sorted[i].Offset - best.Offset;
            sum += d * d;
        }

        Jitter = Math.Max(valid > 1 ? Math.Sqrt(sum / (valid - 1)) : 0, PrecisionSeconds);
    }

    /// <summary>One register stage. An empty stage has the maximum delay and dispersion.</summary>
    public readonly record struct Stage(double Offset, double Delay, double Dispersion, double Time)
    {
        public static Stage Empty => new(0, NtpConstants.MaxDispersion, NtpConstants.MaxDispersion, 0);

        public bool IsEmpty => Delay >= NtpConstants.MaxDispersion;
    }
}
