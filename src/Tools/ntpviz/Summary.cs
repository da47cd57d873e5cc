namespace Meridian.Tools.Ntpviz;

/// <summary>
/// The summary ntpviz prints under each plot: percentiles, the 90% and 98% ranges between them, mean, standard
/// deviation and extremes. Percentiles are nearest-rank (the smallest sample with at least p% of the samples at or
/// below it: rank ⌈p·N/100⌉ of the sorted samples), so every figure is a value that was actually logged; the standard
/// deviation is the population one (divided by N), as numpy's default that NTPsec's ntpviz uses.
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

    /// <summary>Nearest-rank percentile of ascending samples: rank ⌈p·N/100⌉, at least 1.</summary>
    public static double Percentile(double[] sorted, double percent)
    {
        ArgumentOutOfRangeException.ThrowIfZero(sorted.Length);
        int rank = (int)Math.Ceiling(percent * sorted.Length / 100.0);
        return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
    }
}
