using System.Globalization;
using System.Text.RegularExpressions;
using Meridian.Tools.Ntpviz;
using Xunit.Abstractions;

namespace Meridian.Ntpviz.Tests;

/// <summary>NTPsec's ntpviz (Debian's ntpsec-ntpviz) present, or the comparison skipped unless MERIDIAN_REQUIRE_INTEROP=1.</summary>
internal sealed class NtpsecFactAttribute : FactAttribute
{
    public const string Ntpviz = "/usr/bin/ntpviz";

    public NtpsecFactAttribute()
    {
        if (!File.Exists(Ntpviz) && Environment.GetEnvironmentVariable("MERIDIAN_REQUIRE_INTEROP") != "1")
        {
            Skip = $"{Ntpviz} is missing (Debian package ntpsec-ntpviz; ./test.sh installs it)";
        }
    }
}

/// <summary>Our report and NTPsec's of the same statistics files and period: the same summary figures.</summary>
public sealed partial class NtpsecComparisonTests(ITestOutputHelper output)
{
    [GeneratedRegex("""<tr>\s*<td style="text-align:left;">(?<name>[^<]+)</td>(?<cells>.*?)</tr>""", RegexOptions.Singleline)]
    private static partial Regex NtpsecRow();

    [GeneratedRegex("""<td[^>]*>(?<v>[^<]*)</td>""")]
    private static partial Regex NtpsecCell();

    /// <summary>NTPsec's summary rows, name → its columns: min 1% 5% 50% 95% 99% max, 90% 98% stddev, mean, units.</summary>
    private static Dictionary<string, Dictionary<string, double>> NtpsecTables(string html)
    {
        var rows = new Dictionary<string, Dictionary<string, double>>();
        foreach (Match row in NtpsecRow().Matches(html))
        {
            string[] c = [.. NtpsecCell().Matches(row.Groups["cells"].Value).Select(m => m.Groups["v"].Value.Trim())];
            if (c.Length < 14 || !double.TryParse(c[0], NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            {
                continue;
            }

            double unit = c[13] switch { "ns" => 1e-9, "µs" => 1e-6, "ms" => 1e-3, "s" => 1, "ppm" => 1, "ppb" => 1e-3, _ => double.NaN };
            double V(int i) => double.Parse(c[i], NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture) * unit;
            rows[row.Groups["name"].Value.Trim()] = new()
            {
                ["min"] = V(0), ["p1"] = V(1), ["p5"] = V(2), ["p50"] = V(3), ["p95"] = V(4), ["p99"] = V(5), ["max"] = V(6),
                ["range90"] = V(8), ["range98"] = V(9), ["stddev"] = V(10), ["mean"] = V(12), ["unit"] = unit,
            };
        }

        return rows;
    }

    [NtpsecFact]
    public void NTPsecs_ntpviz_reads_the_same_files_to_the_same_summary_figures()
    {
        Assert.True(File.Exists(NtpsecFactAttribute.Ntpviz), $"{NtpsecFactAttribute.Ntpviz} is missing");
        using var sample = new SampleStatistics();
        long start = (long)(SampleStatistics.Day(0) - DateTime.UnixEpoch).TotalSeconds;
        long end = (long)(SampleStatistics.Day(2) - DateTime.UnixEpoch).TotalSeconds;
        string[] period = ["-s", start.ToString(CultureInfo.InvariantCulture), "-e", end.ToString(CultureInfo.InvariantCulture)];

        string theirsDir = Path.Combine(sample.Directory, "ntpsec");
        var run = Tool.Run(NtpsecFactAttribute.Ntpviz, ["-d", sample.Directory, "-o", theirsDir, .. period], TimeSpan.FromSeconds(180));
        Assert.False(run.TimedOut, "NTPsec's ntpviz did not finish in 180 s");
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}\n{run.Stderr}");
        var theirs = NtpsecTables(File.ReadAllText(Path.Combine(theirsDir, "index.html")));

        var now = new DateTime(2026, 12, 2, 13, 0, 0, DateTimeKind.Utc);
        string ours = File.ReadAllText(Program.Run(Options.Parse(["-d", sample.Directory, "-o", Path.Combine(sample.Directory, "ours"), .. period], now), now));
        var tables = ReportTables.Parse(ours);

        var pairs = new List<(string Theirs, string Section, string Series)>
        {
            ("Local Clock Time Offset", "local-offset", "local clock offset"),
            ("Local Clock Frequency Offset", "local-freq", "frequency offset"),
            ("Local RMS Time Jitter", "local-jitter", "clock jitter"),
            ("Local RMS Frequency Jitter", "local-wander", "frequency wander"),
        };
        pairs.AddRange(SampleStatistics.Servers.Select(a => ($"Server Offset {a}", "peer-offsets", a)));
        pairs.AddRange(SampleStatistics.Servers.Select(a => ($"Server Jitter {a}", "peer-jitters", a)));
        pairs.AddRange(SampleStatistics.Refclocks.Select(a => (theirs.Keys.Single(k => k.StartsWith($"Refclock Offset {a} ", StringComparison.Ordinal)), "refclock-offsets", a)));

        int compared = 0;
        foreach ((string name, string section, string series) in pairs)
        {
            Assert.True(theirs.ContainsKey(name), $"NTPsec's report has no row '{name}': {string.Join(", ", theirs.Keys)}");
            Dictionary<string, double> t = theirs[name];
            Dictionary<string, double> o = tables[section][series];
            foreach (string stat in new[] { "min", "p1", "p5", "p50", "p95", "p99", "max", "range90", "range98", "stddev", "mean" })
            {
                // NTPsec prints three decimals of its unit: agree to that rounding (and one more for ranges of rounded ends).
                double tolerance = 0.0011 * t["unit"];
                Assert.True(Math.Abs(t[stat] - o[stat]) <= tolerance, $"{name} {stat}: NTPsec {t[stat]}, ours {o[stat]}");
                compared++;
            }
        }

        output.WriteLine($"{compared} figures of {pairs.Count} rows agree with NTPsec's ntpviz");
        Figures.Record($"ntpviz: {compared} summary figures of {pairs.Count} plots equal NTPsec ntpviz's for the same files and period");
    }
}
