using Meridian.Tools.Ntpviz;

namespace Meridian.Ntpviz.Tests;

/// <summary>The summary table's figures: NTPsec ntpviz's percentiles (index ⌊p·N/100⌋), ranges, mean, population standard deviation.</summary>
public sealed class SummaryTests
{
    [Fact]
    public void One_to_a_hundred_and_fifty_gives_the_sample_at_the_index_rounded_down()
    {
        double[] data = [.. Enumerable.Range(1, 150).Select(i => (double)i).OrderBy(i => (i * 37) % 151)];
        Summary s = Summary.Of(data)!.Value;
        Assert.Equal(150, s.Count);

        // Indexes ⌊1.5⌋=1, ⌊7.5⌋=7, ⌊75⌋=75, ⌊142.5⌋=142, ⌊148.5⌋=148 of 1..150: the samples 2, 8, 76, 143, 149.
        Assert.Equal(2, s.P1);
        Assert.Equal(8, s.P5);
        Assert.Equal(76, s.P50);
        Assert.Equal(143, s.P95);
        Assert.Equal(149, s.P99);
        Assert.Equal(135, s.Range90);
        Assert.Equal(147, s.Range98);
        Assert.Equal(75.5, s.Mean, 12);
        Assert.Equal(Math.Sqrt((150.0 * 150 - 1) / 12), s.StdDev, 12);
        Assert.Equal(1, s.Min);
        Assert.Equal(150, s.Max);
    }

    [Fact]
    public void Ten_samples_take_the_index_rounded_down_not_an_interpolation()
    {
        Summary s = Summary.Of([3, 1, 4, 1.5, 5, 9, 2, 6, 5.5, 3.5])!.Value;

        // Sorted 1 1.5 2 3 3.5 4 5 5.5 6 9: indexes ⌊0.1⌋=0, ⌊0.5⌋=0, ⌊5⌋=5, ⌊9.5⌋=9, ⌊9.9⌋=9.
        Assert.Equal(1, s.P1);
        Assert.Equal(1, s.P5);
        Assert.Equal(4, s.P50);
        Assert.Equal(9, s.P95);
        Assert.Equal(9, s.P99);
        Assert.Equal(8, s.Range90);
        Assert.Equal(8, s.Range98);
        Assert.Equal(4.05, s.Mean, 12);
        Assert.Equal(Math.Sqrt(52.725 / 10), s.StdDev, 12);
    }

    [Fact]
    public void The_median_of_an_even_count_is_a_sample_not_the_midpoint()
    {
        // Linear interpolation would give 5.5 and nearest rank 5; NTPsec's index ⌊5⌋ is the sixth sample.
        Assert.Equal(6, Summary.Percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50));
        Assert.Equal(10, Summary.Percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95));
        Assert.Equal(1, Summary.Percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0));
        Assert.Equal(10, Summary.Percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 100));
    }

    [Fact]
    public void One_sample_is_every_percentile_with_no_spread()
    {
        Summary s = Summary.Of([-4.2e-6])!.Value;
        Assert.Equal(-4.2e-6, s.P1);
        Assert.Equal(-4.2e-6, s.P99);
        Assert.Equal(0, s.Range98);
        Assert.Equal(0, s.StdDev);
    }

    [Fact]
    public void No_samples_have_no_summary() => Assert.Null(Summary.Of([]));

    [Fact]
    public void Random_offsets_agree_with_a_direct_computation()
    {
        var random = new Random(7);
        double[] data = [.. Enumerable.Range(0, 1237).Select(_ => (random.NextDouble() - 0.4) * 1e-3)];
        Summary s = Summary.Of(data)!.Value;
        Expected e = Expected.Of(data);
        Assert.Equal(e.P1, s.P1);
        Assert.Equal(e.P5, s.P5);
        Assert.Equal(e.P50, s.P50);
        Assert.Equal(e.P95, s.P95);
        Assert.Equal(e.P99, s.P99);
        Assert.Equal(e.P95 - e.P5, s.Range90);
        Assert.Equal(e.P99 - e.P1, s.Range98);
        Assert.Equal(e.Mean, s.Mean, 15);
        Assert.Equal(e.StdDev, s.StdDev, 15);
        Assert.Equal(data.Min(), s.Min);
        Assert.Equal(data.Max(), s.Max);
    }

    [Theory]
    [InlineData(12e-6, "µs", 1e6)]
    [InlineData(-0.00042, "µs", 1e6)]
    [InlineData(0.0125, "ms", 1e3)]
    [InlineData(2.5, "s", 1)]
    public void Seconds_are_shown_in_the_unit_their_size_asks(double value, string unit, double scale)
    {
        (string u, double k) = Report.UnitFor(Quantity.Seconds, [value, value / 2, -value / 3]);
        Assert.Equal(unit, u);
        Assert.Equal(scale, k);
        Assert.Equal(("ppm", 1.0), Report.UnitFor(Quantity.Ppm, [value]));
    }

    [Theory]
    [InlineData(30.2, "0.000")]
    [InlineData(0.0, "0.000")]
    [InlineData(0.0234, "0.0000")]
    [InlineData(0.00234, "0.00000")]
    public void Small_figures_keep_three_significant_digits(double magnitude, string format) => Assert.Equal(format, Report.Format(magnitude));
}

/// <summary>The summary computed the plain way, to check the report's against: each percentile by its definition.</summary>
internal readonly record struct Expected(double P1, double P5, double P50, double P95, double P99, double Mean, double StdDev, double Min, double Max, int Count)
{
    public static Expected Of(IReadOnlyList<double> data)
    {
        List<double> sorted = [.. data.Order()];
        double Rank(int p)
        {
            // The smallest sample with more than p% of all samples at or before it, counted in integers.
            for (int i = 0; i < sorted.Count; i++)
            {
                if ((i + 1) * 100 > p * sorted.Count)
                {
                    return sorted[i];
                }
            }

            return sorted[^1];
        }

        double mean = data.Average();
        double std = Math.Sqrt(data.Select(x => (x - mean) * (x - mean)).Average());
        return new Expected(Rank(1), Rank(5), Rank(50), Rank(95), Rank(99), mean, std, sorted[0], sorted[^1], data.Count);
    }
}
