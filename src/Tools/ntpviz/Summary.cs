namespace Meridian.Tools.Ntpviz;

/// <summary>
/// The summary ntpviz prints under each plot: percentiles, the 90% and 98% ranges between them, mean, standard
/// deviation and extremes, computed as NTPsec's ntpviz computes them so the two reports of the same files agree.
/// A percentile is a logged sample, not an interpolation: the p-th is the sample at 0-based index ⌊p·N/100⌋ of the
/// sorted samples (the smallest with more than p% of the samples at or before it; the last for p = 100). The
/// standard deviation is the population one (divided by N).
/// </summary>
public readonly struct Summary
{
    public int Count { get; init; }

    public double P1 { get; init; }

    public double P5 { get; init; }

    public double P50 { get; init; }

    public double P95 { get; init; }

    public double P99 { get; init; }

    public double Mean { get; init; }

    public double StdDev { get; init; }

    public double Min { get; init; }

    public double Max { get; init; }

    /// <summary>95th minus 5th percentile: the spread of the central 90% of the samples.</summary>
    public double Range90 => P95 - P5;

    /// <summary>99th minus 1st percentile: the spread of the central 98%.</summary>
    public double Range98 => P99 - P1;

    /// <summary>Summarises the samples; null when there are none, as there is nothing to say about no data.</summary>
    public static Summary? Of(IReadOnlyCollection<double> samples)
    {
        if (samples.Count == 0)
        {
            return null;
        }

        double[] sorted = [.. samples];
        Array.Sort(sorted);
        double sum = 0;
        foreach (double x in sorted)
        {
            sum += x;
        }

        double mean = sum / sorted.Length;
        double squares = 0;
        foreach (double x in sorted)
        {
            squares += (x - mean) * (x - mean);
        }

        return new Summary
        {
            Count = sorted.Length,
            P1 = Percentile(sorted, 1),
            P5 = Percentile(sorted, 5),
            P50 = Percentile(sorted, 50),
            P95 = Percentile(sorted, 95),
            P99 = Percentile(sorted, 99),
            Mean = mean,
            StdDev = Math.Sqrt(squares / sorted.Length),
            Min = sorted[0],
            Max = sorted[^1],
        };
    }

    /// <summary>The p-th percentile of ascending samples: the one at index ⌊p·N/100⌋, NTPsec ntpviz's choice.</summary>
    public static double Percentile(double[] sorted, double percent)
    {
        ArgumentOutOfRangeException.ThrowIfZero(sorted.Length);
        int index = (int)Math.Floor(percent * sorted.Length / 100.0);
        return sorted[Math.Clamp(index, 0, sorted.Length - 1)];
    }
}
