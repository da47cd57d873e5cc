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

    [InteropFact]
    public void A_client_of_chronyd_writes_rawstats_peerstats_and_protostats_of_what_it_measured()
    {
        using var upstream = new NetworkNamespace();
        using var downstream = new NetworkNamespace();
        upstream.LinkTo(downstream, "198.18.0.1", "198.18.0.2");
        ClientTests.StartChronyServer(upstream);
        string stats = Path.Combine(downstream.Directory, "stats");
        Daemon ntpd = Broadcasting.StartOurs(downstream, $"""
            server 198.18.0.1 iburst minpoll 4 maxpoll 4
            statsdir {stats}/
            statistics loopstats peerstats rawstats protostats sysstats
            """);
        string peer = Path.Combine(stats, "peerstats");
        Assert.True(NetworkNamespace.Await(() => File.Exists(peer) && File.ReadAllLines(peer).Length >= 6, TimeSpan.FromSeconds(90)), Broadcasting.Log(downstream) + ntpd.Output);

        // rawstats: chronyd's replies, each with our request's transmit time as its origin, chronyd's stratum 3.
        string[] raw = File.ReadAllLines(Path.Combine(stats, "rawstats"));
        Assert.True(raw.Length >= 6, string.Join("\n", raw));
        Assert.All(raw, l => Assert.Matches(@"^\d{5} \d+\.\d{3} 198\.18\.0\.1 198\.18\.0\.2 (\d{10}\.\d{9} ){4}0 4 4 3 \d+ -?\d+ \d+\.\d{6} \d+\.\d{6} \S+$", l));
        foreach (string[] f in raw.Select(l => l.Split(' ')))
        {
            // T1 <= T4, and the server's T2 <= T3: the four timestamps are in their places.
            double t1 = double.Parse(f[4], CultureInfo.InvariantCulture), t2 = double.Parse(f[5], CultureInfo.InvariantCulture);
            double t3 = double.Parse(f[6], CultureInfo.InvariantCulture), t4 = double.Parse(f[7], CultureInfo.InvariantCulture);
            Assert.True(t1 <= t4 && t2 <= t3 && t4 - t1 < 0.1, string.Join(' ', f));
        }

        // peerstats: offsets and delays as small as a veth makes them.
        string[][] samples = [.. File.ReadAllLines(peer).Select(l => l.Split(' '))];
        Assert.All(samples, f => Assert.Equal("198.18.0.1", f[2]));
        Assert.All(samples, f => Assert.InRange(Math.Abs(double.Parse(f[4], CultureInfo.InvariantCulture)), 0, 0.01));
        Assert.All(samples, f => Assert.InRange(double.Parse(f[5], CultureInfo.InvariantCulture), 0, 0.01));

        // protostats: chronyd chosen as the system peer.
        string proto = Path.Combine(stats, "protostats");
        Assert.True(NetworkNamespace.Await(() => File.Exists(proto) && File.ReadAllText(proto).Contains(" sys_peer", StringComparison.Ordinal), TimeSpan.FromSeconds(60)), Broadcasting.Log(downstream));
        string[] events = File.ReadAllLines(proto);
        Assert.Contains(events, l => Regex.IsMatch(l, @"^\d{5} \d+\.\d{3} 198\.18\.0\.1 [0-9a-f]{4} 0a sys_peer$"));

        Figures.Record($"statistics of our client of chronyd: rawstats: {raw[^1]}; peerstats: {string.Join(' ', samples[^1])}; protostats: {events.Last(l => l.EndsWith("sys_peer", StringComparison.Ordinal))}");
    }
}
