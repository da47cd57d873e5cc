using System.Globalization;
using System.Text.RegularExpressions;

namespace Meridian.Interop.Tests;

/// <summary>Our statistics files, read by NTPsec's own ntpviz (Debian's ntpsec-ntpviz).</summary>
public sealed class StatisticsTests
{
    [InteropFact]
    public void NTPsecs_ntpviz_reads_our_loopstats_and_peerstats_with_the_values_we_wrote()
    {
        using var ns = new NetworkNamespace();
        string stats = Path.Combine(ns.Directory, "stats");
        Daemon ntpd = Broadcasting.StartOurs(ns, $"""
            server 127.127.1.0 minpoll 4
            fudge 127.127.1.0 stratum 10
            statsdir {stats}/
            statistics loopstats peerstats clockstats sysstats protostats rawstats
            filegen loopstats file loopstats type day enable
            filegen peerstats file peerstats type day enable
            """);
        string loop = Path.Combine(stats, "loopstats");
        Assert.True(NetworkNamespace.Await(() => File.Exists(loop) && File.ReadAllLines(loop).Length >= 4, TimeSpan.FromSeconds(60)), Broadcasting.Log(ns) + ntpd.Output);
        string[] ours = File.ReadAllLines(loop);
        string day = DateTime.UtcNow.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        Assert.True(File.Exists(Path.Combine(stats, "loopstats." + day)) || File.Exists(Path.Combine(stats, "loopstats." + DateTime.UtcNow.AddMinutes(-1).ToString("yyyyMMdd", CultureInfo.InvariantCulture))));

        // ntpviz's gnuplot data for the local clock offset: "unix-time offset frequency", one row per loopstats line.
        CommandResult offsets = ns.Run(TimeSpan.FromSeconds(60), "/usr/bin/ntpviz", "--local-offset", "-d", stats);
        Assert.True(offsets.ExitCode == 0, offsets.ToString());
        var rows = Regex.Matches(offsets.Stdout, @"^(\d+\.\d+) (-?\d+\.\d{9}) (-?\d+\.\d{3})$", RegexOptions.Multiline);
        // Every row is one of our lines, time and values alike (the newest line may fall after its end of period).
        Assert.True(rows.Count >= ours.Length - 1 && rows.Count >= 3, offsets.ToString());
        var written = ours.Select(l => l.Split(' ')).Select(f => ((long.Parse(f[0], CultureInfo.InvariantCulture) - 40587) * 86400.0 + double.Parse(f[1], CultureInfo.InvariantCulture), f[2], f[3])).ToList();
        foreach (Match r in rows.Take(rows.Count / 2))
        {
            double unix = double.Parse(r.Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.Contains(written, w => Math.Abs(w.Item1 - unix) < 0.01 && w.Item2 == r.Groups[2].Value && w.Item3 == r.Groups[3].Value);
        }

        // Its peer offsets, from our peerstats: the local clock's rows.
        CommandResult peers = ns.Run(TimeSpan.FromSeconds(60), "/usr/bin/ntpviz", "--all-peer-offsets", "-d", stats);
        Assert.True(peers.ExitCode == 0 && peers.Stdout.Contains("127.127.1.0", StringComparison.Ordinal), peers.ToString());

        // And its whole report, without errors.
        string report = Path.Combine(ns.Directory, "report");
        CommandResult html = ns.Run(TimeSpan.FromSeconds(120), "/usr/bin/ntpviz", "-d", stats, "-o", report);
        Assert.True(html.ExitCode == 0 && File.Exists(Path.Combine(report, "index.html")), html.ToString());
        Assert.DoesNotContain("ERROR", html.Stderr, StringComparison.Ordinal);
        Assert.Contains("Local Clock", File.ReadAllText(Path.Combine(report, "index.html")), StringComparison.Ordinal);

        Figures.Record($"NTPsec ntpviz read our statistics: {rows.Count / 2} local-offset rows from {ours.Length} loopstats lines, all values equal; sample loopstats: {ours[^1]}; peerstats: {File.ReadAllLines(Path.Combine(stats, "peerstats"))[^1]}");
    }
}
