namespace Meridian.Engine.Refclocks;

/// <summary>
/// The offsets a driver collected between two polls (one a second, at most 63 held: ntpd's MAXSTAGE ring), and
/// ntpd's median filter over them: sort, trim the samples furthest from the median until about 60 % are left,
/// and average those. A serial timecode's jitter (interrupt and scheduling latency) is one-sided and heavy-tailed,
/// which the trimmed mean is made for.
/// </summary>
public sealed class RefclockSamples
{
    /// <summary>The ring's size; one slot stays free, as in ntpd.</summary>
    public const int Capacity = 64;

    private readonly double[] _ring = new double[Capacity];
    private readonly double[] _sorted = new double[Capacity];
    private int _first;
    private int _count;

    public int Count => _count;

    /// <summary>Adds a sample (seconds, positive when the system clock is behind); the oldest goes when the ring is full.</summary>
    public void Add(double offset)
    {
        if (_count == Capacity - 1)
        {
            _first = (_first + 1) % Capacity;
            _count--;
        }

        _ring[(_first + _count) % Capacity] = offset;
        _count++;
    }

    public void Clear()
    {
        _first = 0;
        _count = 0;
    }

    /// <summary>
    /// Takes every sample: the trimmed mean of the middle ~60 % and its jitter (the RMS of the differences between
    /// neighbours that were kept), floored at <paramref name="precision"/>. False when there were none.
    /// </summary>
    public bool TryTake(double precision, out double offset, out double jitter)
    {
        int n = _count;
        offset = 0;
        jitter = 0;
        if (n == 0)
        {
            return false;
        }

        for (int k = 0; k < n; k++)
        {
            _sorted[k] = _ring[(_first + k) % Capacity];
        }

        Clear();
        Span<double> sorted = _sorted.AsSpan(0, n);
        sorted.Sort();
        int keep = n - (4 * n / 10);
        int i = 0;
        int j = n;
        while (j - i > keep)
        {
            double median = sorted[(i + j) / 2];
            if (sorted[j - 1] - median < median - sorted[i])
            {
                i++;
            }
            else
            {
                j--;
            }
        }

        double sum = 0;
        double squares = 0;
        for (int k = i; k < j; k++)
        {
            sum += sorted[k];
            if (k > i)
            {
                double d = sorted[k] - sorted[k - 1];
                squares += d * d;
            }
        }

        offset = sum / keep;
        jitter = Math.Max(Math.Sqrt(squares / Math.Max(1, keep - 1)), precision);
        return true;
    }
}
