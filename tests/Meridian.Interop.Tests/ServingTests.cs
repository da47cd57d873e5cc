using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Meridian.Interop.Tests;

/// <summary>Real clients (NTPsec's ntpdig and ntpdate, chronyd) against our ntpd on port 123.</summary>
public sealed class ServingTests
{
    internal const string LocalClockConfig = """
        # The local clock at stratum 10: we serve stratum 11.
        server 127.127.1.0
        fudge 127.127.1.0 stratum 10
        disable ntp
        """;

    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    internal static Daemon StartOurNtpd(NetworkNamespace ns)
    {
        string config = ns.WriteFile("ntp.conf", LocalClockConfig);
        Daemon ntpd = ns.Start(Sandbox.Out("ntpd"), "-n", "-c", config);
        // The local clock driver is selected once its filter holds a few samples (a few seconds).
        CommandResult ready = ns.RunUntil(r => r.Stdout.Contains(" s11 ", StringComparison.Ordinal), Short, "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");
        Assert.True(ready.Stdout.Contains(" s11 ", StringComparison.Ordinal), ready + ntpd.Output);
        return ntpd;
    }

    [InteropFact]
    public void Ntpsec_ntpdig_gets_valid_replies_at_the_configured_stratum()
    {
        using var ns = new NetworkNamespace();
        Daemon ntpd = StartOurNtpd(ns);

        CommandResult json = ns.Run(Short, "/usr/bin/ntpdig", "-j", "127.0.0.1");
        CommandResult plain = ns.Run(Short, "/usr/bin/ntpdig", "localhost");

        Assert.True(json.ExitCode == 0, json + ntpd.Output);
        using JsonDocument doc = JsonDocument.Parse(json.Stdout);
        JsonElement root = doc.RootElement;
        Assert.Equal(11, root.GetProperty("stratum").GetInt32());
        Assert.Equal("no-leap", root.GetProperty("leap").GetString());
        double offset = root.GetProperty("offset").GetDouble();
        Assert.InRange(Math.Abs(offset), 0, 0.010);
        Assert.Equal(0, plain.ExitCode);
        Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \(\+0000\) [+-]\d+\.\d{6} \+/- \d+\.\d{6} localhost \S+ s11 no-leap\n$", plain.Stdout);
        Figures.Record($"NTPsec ntpdig -> our ntpd: stratum 11, offset {offset * 1e3:+0.000;-0.000} ms");
    }

    [InteropFact]
    public void Ntpsec_ntpdate_query_reports_our_stratum_and_a_small_offset()
    {
        using var ns = new NetworkNamespace();
        StartOurNtpd(ns);

        CommandResult result = ns.Run(Short, "/usr/sbin/ntpdate", "-q", "127.0.0.1");

        Assert.True(result.ExitCode == 0, result.ToString());
        Match m = Regex.Match(result.Stdout, @" ([+-]\d+\.\d+) \+/- \d+\.\d+ 127\.0\.0\.1 s11 no-leap");
        Assert.True(m.Success, result.ToString());
        double offset = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(Math.Abs(offset), 0, 0.010);
        Figures.Record($"NTPsec ntpdate -q -> our ntpd: stratum 11, offset {offset * 1e3:+0.000;-0.000} ms");
    }

    [InteropFact]
    public void Chronyd_selects_our_server()
    {
        using var ns = new NetworkNamespace();
        StartOurNtpd(ns);
        string config = ns.WriteFile("chrony.conf", $"""
            server 127.0.0.1 iburst
            bindcmdaddress /
            pidfile {ns.Directory}/chronyd.pid
            """);
        var clock = Stopwatch.StartNew();
        Daemon chronyd = ns.Start(Sandbox.Chronyd, "-d", "-x", "-u", "root", "-f", config);

        CommandResult sources = ns.RunUntil(
            r => r.Stdout.Contains("^* 127.0.0.1", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60),
            Sandbox.Chronyc, "-h", "127.0.0.1", "-n", "sources");
        double seconds = clock.Elapsed.TotalSeconds;

        Assert.True(sources.Stdout.Contains("^* 127.0.0.1", StringComparison.Ordinal), sources + chronyd.Output);
        CommandResult tracking = ns.Run(Short, Sandbox.Chronyc, "-h", "127.0.0.1", "-n", "tracking");
        Assert.Contains("Stratum         : 12", tracking.Stdout, StringComparison.Ordinal);
        Match offset = Regex.Match(tracking.Stdout, @"Last offset\s+:\s+([+-]?\d+\.\d+) seconds");
        Figures.Record($"chronyd selected our ntpd (^*) after {seconds:0.0} s; chronyd stratum 12; last offset {(offset.Success ? offset.Groups[1].Value : "?")} s");
    }
}
