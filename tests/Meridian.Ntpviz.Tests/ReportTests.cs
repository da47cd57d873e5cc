using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Meridian.Tools.Ntpviz;
using Xunit.Abstractions;

namespace Meridian.Ntpviz.Tests;

/// <summary>The report made from recorded statistics files: its plots, and summary figures equal to the lines written.</summary>
public sealed partial class ReportTests(ITestOutputHelper output)
{
    private static readonly DateTime Now = new(2026, 12, 2, 13, 0, 0, DateTimeKind.Utc);

    [GeneratedRegex("""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", RegexOptions.IgnoreCase)]
    internal static partial Regex ExternalReference();

    private static string Report(SampleStatistics sample, string outDir, params string[] extra)
    {
        Options options = Options.Parse(["-d", sample.Directory, "-o", outDir, "-n", "testhost", .. extra], Now);
        return File.ReadAllText(Program.Run(options, Now));
    }

    private static List<double> Column(IEnumerable<string> lines, int field, string? address = null) =>
        [.. lines.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(f => address is null || f[2] == address)
            .Select(f => double.Parse(f[field], CultureInfo.InvariantCulture))];

    /// <summary>What the report must show, section by section and series by series, computed from the lines written.</summary>
    private static Dictionary<string, Dictionary<string, List<double>>> ExpectedSeries(List<string> loop, List<string> peers) => new()
    {
        ["local-offset"] = new() { ["local clock offset"] = Column(loop, 2) },
        ["local-freq"] = new() { ["frequency offset"] = Column(loop, 3) },
        ["local-jitter"] = new() { ["clock jitter"] = Column(loop, 4) },
        ["local-wander"] = new() { ["frequency wander"] = Column(loop, 5) },
        ["peer-offsets"] = SampleStatistics.Servers.ToDictionary(a => a, a => Column(peers, 4, a)),
        ["peer-delays"] = SampleStatistics.Servers.ToDictionary(a => a, a => Column(peers, 5, a)),
        ["peer-jitters"] = SampleStatistics.Servers.ToDictionary(a => a, a => Column(peers, 7, a)),
        ["refclock-offsets"] = SampleStatistics.Refclocks.ToDictionary(a => a, a => Column(peers, 4, a)),
    };

    private static void AssertTablesEqual(string html, List<string> loop, List<string> peers)
    {
        var tables = ReportTables.Parse(html);
        var expected = ExpectedSeries(loop, peers);
        Assert.Equal(expected.Keys.Order(), tables.Keys.Order());
        foreach ((string section, Dictionary<string, List<double>> series) in expected)
        {
            Assert.Equal(series.Keys.Order(), tables[section].Keys.Order());
            foreach ((string name, List<double> values) in series)
            {
                Dictionary<string, double> row = tables[section][name];
                Expected e = Expected.Of(values);
                Assert.Equal(values.Count, (int)row["count"]);
                Assert.Equal(e.P1, row["p1"]);
                Assert.Equal(e.P5, row["p5"]);
                Assert.Equal(e.P50, row["p50"]);
                Assert.Equal(e.P95, row["p95"]);
                Assert.Equal(e.P99, row["p99"]);
                Assert.Equal(e.P95 - e.P5, row["range90"]);
                Assert.Equal(e.P99 - e.P1, row["range98"]);
                Assert.Equal(e.Min, row["min"]);
                Assert.Equal(e.Max, row["max"]);
                Assert.True(Math.Abs(e.Mean - row["mean"]) <= 1e-12 * Math.Max(1, Math.Abs(e.Mean)), $"{section} {name} mean {row["mean"]} != {e.Mean}");
                Assert.True(Math.Abs(e.StdDev - row["stddev"]) <= 1e-12 * Math.Max(1, e.StdDev), $"{section} {name} stddev {row["stddev"]} != {e.StdDev}");
            }
        }
    }

    [Fact]
    public void Two_days_of_statistics_give_every_plot_and_summaries_equal_to_the_lines_written()
    {
        using var sample = new SampleStatistics();
        string outDir = Path.Combine(sample.Directory, "report");
        var clock = Stopwatch.StartNew();
        string html = Report(sample, outDir);
        clock.Stop();

        // Four local clock plots, three of the peers, one of the reference clocks: each an inline SVG.
        Assert.Equal(8, Regex.Count(html, "<svg"));
        Assert.Equal(8, Regex.Count(html, "<section class=\"chart\""));
        Assert.Equal(sample.LoopLines.Count, ReportTables.Span(html, "loop-count"));
        Assert.Equal(sample.PeerLines.Count, ReportTables.Span(html, "peer-count"));
        Assert.Equal(sample.ClockLines.Count, ReportTables.Span(html, "clock-count"));
        AssertTablesEqual(html, sample.LoopLines, sample.PeerLines);

        // The clockstats table ends with the last timecode written.
        string lastTimecode = sample.ClockLines[^1].Split(' ', 4)[3];
        Assert.Contains($"<td class=\"timecode\">{lastTimecode}</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td class=\"unit\">µs</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td class=\"unit\">ppm</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td class=\"unit\">ms</td>", html, StringComparison.Ordinal);
        Assert.DoesNotMatch(ExternalReference(), html);
        Assert.Contains("testhost NTP statistics", html, StringComparison.Ordinal);

        int lines = sample.LoopLines.Count + sample.PeerLines.Count + sample.ClockLines.Count;
        string figure = $"ntpviz: report of {lines} statistics lines (2 days, 3 peers, 2 refclocks) in {clock.ElapsedMilliseconds} ms, index.html {new FileInfo(Path.Combine(outDir, "index.html")).Length / 1024} KiB";
        output.WriteLine(figure);
        Figures.Record(figure);
    }

    [Fact]
    public void An_undated_current_file_that_is_a_copy_counts_its_lines_once()
    {
        using var sample = new SampleStatistics(undatedAsCopy: true);
        string html = Report(sample, Path.Combine(sample.Directory, "report"));
        Assert.Equal(sample.LoopLines.Count, ReportTables.Span(html, "loop-count"));
        Assert.Equal(sample.PeerLines.Count, ReportTables.Span(html, "peer-count"));
        AssertTablesEqual(html, sample.LoopLines, sample.PeerLines);
    }

    [Fact]
    public void Start_and_end_times_select_the_lines_of_the_second_day()
    {
        using var sample = new SampleStatistics();
        string day2 = SampleStatistics.Day(1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        string html = Report(sample, Path.Combine(sample.Directory, "report"), "-s", day2, "-e", $"{day2}T23:59:59.999");
        string mjd = (SampleStatistics.FirstMjd + 1).ToString(CultureInfo.InvariantCulture) + " ";
        List<string> loop = [.. sample.LoopLines.Where(l => l.StartsWith(mjd, StringComparison.Ordinal))];
        List<string> peers = [.. sample.PeerLines.Where(l => l.StartsWith(mjd, StringComparison.Ordinal))];
        Assert.InRange(loop.Count, 1000, sample.LoopLines.Count - 1000);
        Assert.Equal(loop.Count, ReportTables.Span(html, "loop-count"));
        AssertTablesEqual(html, loop, peers);
    }

    [Fact]
    public void A_period_of_half_a_day_ends_at_the_last_record()
    {
        using var sample = new SampleStatistics();
        string html = Report(sample, Path.Combine(sample.Directory, "report"), "-p", "0.5");

        // The last record is the torn line at 86399.9 s of the second day: the report covers its last 12 hours.
        DateTime end = SampleStatistics.Day(2).AddSeconds(-0.1);
        Assert.Contains($"<span id=\"end\">{end:yyyy-MM-ddTHH:mm:ss}Z</span>", html, StringComparison.Ordinal);
        int expected = sample.LoopLines.Count(l =>
        {
            string[] f = l.Split(' ');
            DateTime t = StatisticsReader.TimeOf(int.Parse(f[0], CultureInfo.InvariantCulture), double.Parse(f[1], CultureInfo.InvariantCulture));
            return t >= end.AddHours(-12) && t <= end;
        });
        Assert.InRange(expected, 600, 700);
        Assert.Equal(expected, ReportTables.Span(html, "loop-count"));
    }

    [Fact]
    public void The_binary_writes_the_report_quietly_and_fails_clearly_on_an_empty_directory()
    {
        using var sample = new SampleStatistics();
        string outDir = Path.Combine(sample.Directory, "graphs");
        string ntpviz = Tool.Ntpviz();
        var run = Tool.Run(ntpviz, ["--datadir", sample.Directory, "--outdir", outDir, "--name=binaryhost"], TimeSpan.FromSeconds(120));
        Assert.False(run.TimedOut, "ntpviz did not finish in 120 s");
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Stderr}");
        Assert.Equal("", run.Stdout);
        Assert.Equal("", run.Stderr);
        string html = File.ReadAllText(Path.Combine(outDir, "index.html"));
        Assert.Equal(8, Regex.Count(html, "<svg"));
        Assert.Contains("binaryhost NTP statistics", html, StringComparison.Ordinal);
        AssertTablesEqual(html, sample.LoopLines, sample.PeerLines);

        string empty = Path.Combine(sample.Directory, "empty");
        System.IO.Directory.CreateDirectory(empty);
        var none = Tool.Run(ntpviz, ["-d", empty, "-o", Path.Combine(sample.Directory, "none")], TimeSpan.FromSeconds(60));
        Assert.Equal(1, none.ExitCode);
        Assert.Equal("", none.Stdout);
        Assert.Contains($"no loopstats or peerstats files in {empty}", none.Stderr, StringComparison.Ordinal);
        Assert.False(System.IO.Directory.Exists(Path.Combine(sample.Directory, "none")));

        var bad = Tool.Run(ntpviz, ["--bogus"], TimeSpan.FromSeconds(60));
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("unknown option '--bogus'", bad.Stderr, StringComparison.Ordinal);
        output.WriteLine($"ran {ntpviz}");
    }
}
