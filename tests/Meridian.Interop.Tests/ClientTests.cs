using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Meridian.Interop.Tests;

/// <summary>Our ntpdate and ntpdig against chronyd, NTPsec's ntpd and our own ntpd.</summary>
public sealed class ClientTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    /// <summary>chronyd serving its local clock at stratum 3 to anyone, with the clock left alone (-x).</summary>
    internal static void StartChronyServer(NetworkNamespace ns)
    {
        string config = ns.WriteFile("chrony.conf", $"""
            local stratum 3
            allow
            bindcmdaddress /
            cmdport 0
            pidfile {ns.Directory}/chronyd.pid
            """);
        ns.Start(Sandbox.Chronyd, "-d", "-x", "-u", "root", "-f", config);
    }

    [InteropFact]
    public void Ntpdate_query_reads_chronyd_at_stratum_3()
    {
        using var ns = new NetworkNamespace();
        StartChronyServer(ns);

        CommandResult result = ns.RunUntil(r => r.ExitCode == 0, Short, Sandbox.Out("ntpdate"), "-q", "127.0.0.1");

        Assert.True(result.ExitCode == 0, result.ToString());
        Match server = Regex.Match(result.Stdout, @"^server 127\.0\.0\.1, stratum 3, offset (-?\d+\.\d{6}), delay (\d+\.\d{5})$", RegexOptions.Multiline);
        Assert.True(server.Success, result.ToString());
        Assert.Matches(@"(?m)^[ \d]\d [A-Z][a-z]{2} \d\d:\d\d:\d\d ntpdate\[\d+\]: adjust time server 127\.0\.0\.1 offset -?\d+\.\d{6} sec$", result.Stdout);
        double offset = double.Parse(server.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(Math.Abs(offset), 0, 0.010);
        Figures.Record($"our ntpdate -q -> chronyd: stratum 3, offset {offset * 1e3:+0.000;-0.000} ms, delay {server.Groups[2].Value} s");
    }

    [InteropFact]
    public void Ntpdig_reads_chronyd_at_stratum_3()
    {
        using var ns = new NetworkNamespace();
        StartChronyServer(ns);

        CommandResult json = ns.RunUntil(r => r.ExitCode == 0, Short, Sandbox.Out("ntpdig"), "-j", "127.0.0.1");
        CommandResult plain = ns.Run(Short, Sandbox.Out("ntpdig"), "localhost");

        Assert.True(json.ExitCode == 0, json.ToString());
        using JsonDocument doc = JsonDocument.Parse(json.Stdout);
        Assert.Equal(3, doc.RootElement.GetProperty("stratum").GetInt32());
        Assert.Equal("no-leap", doc.RootElement.GetProperty("leap").GetString());
        Assert.False(doc.RootElement.GetProperty("adjusted").GetBoolean());
        double offset = doc.RootElement.GetProperty("offset").GetDouble();
        Assert.InRange(Math.Abs(offset), 0, 0.010);
        Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \(\+0000\) [+-]\d+\.\d{6} \+/- \d+\.\d{6} localhost 127\.0\.0\.1 s3 no-leap\n$", plain.Stdout);
        Figures.Record($"our ntpdig -> chronyd: stratum 3, offset {offset * 1e3:+0.000;-0.000} ms");
    }

    [InteropFact]
    public void Unsynchronized_ntpsec_is_rejected()
    {
        using var ns = new NetworkNamespace();
        string config = ns.WriteFile("ntpsec.conf", """
            disable ntp
            unrestrict default noquery limited
            """);
        Daemon ntpsec = ns.Start("/usr/sbin/ntpd", "-n", "-c", config);
        ns.WaitForNtp(Short);

        CommandResult ntpdate = ns.Run(Short, Sandbox.Out("ntpdate"), "-q", "127.0.0.1");
        CommandResult ntpdig = ns.Run(Short, Sandbox.Out("ntpdig"), "127.0.0.1");

        Assert.True(ntpdate.ExitCode == 1, ntpdate + ntpsec.Output);
        Assert.Contains("server 127.0.0.1, stratum 0, offset 0.000000, delay 0.00000", ntpdate.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"ntpdate\[\d+\]: no server suitable for synchronization found", ntpdate.Stdout);
        Assert.Equal(1, ntpdig.ExitCode);
        Assert.Contains("ntpdig: 127.0.0.1: Response dropped: stratum 0, probable KOD packet", ntpdig.Stderr, StringComparison.Ordinal);
        Assert.Contains("ntpdig: no eligible servers", ntpdig.Stderr, StringComparison.Ordinal);
    }

    [InteropFact]
    public void Ntpdate_without_u_says_the_ntp_socket_is_in_use()
    {
        using var ns = new NetworkNamespace();
        ServingTests.StartOurNtpd(ns);

        // No -q: ntpdate would set the clock, but it cannot bind port 123 and stops first. (It runs without
        // CAP_SYS_TIME and with MERIDIAN_FORBID_CLOCK_WRITES=1 all the same.)
        CommandResult result = ns.Run(Short, Sandbox.Out("ntpdate"), "127.0.0.1");

        Assert.Equal(1, result.ExitCode);
        Assert.Matches(@"^[ \d]\d [A-Z][a-z]{2} \d\d:\d\d:\d\d ntpdate\[\d+\]: the NTP socket is in use, exiting\n$", result.Stdout);
    }

    [InteropFact]
    public void Ntpdate_debug_prints_the_classic_transcript_without_touching_the_clock()
    {
        using var ns = new NetworkNamespace();
        ServingTests.StartOurNtpd(ns);

        CommandResult result = ns.Run(Short, Sandbox.Out("ntpdate"), "-d", "127.0.0.1");

        Assert.True(result.ExitCode == 0, result.ToString());
        string[] lines = result.Stdout.Split('\n');
        Assert.Matches(@"ntpdate\[\d+\]: ntpdate Meridian", lines[0]);
        Assert.Equal("Looking for host 127.0.0.1 and service ntp", lines[1]);
        Assert.Equal("host found : 127.0.0.1", lines[2]);
        Assert.Equal(4, lines.Count(l => l == "transmit(127.0.0.1)"));
        Assert.Equal(4, lines.Count(l => l == "receive(127.0.0.1)"));
        string report = result.Stdout[result.Stdout.IndexOf("server 127.0.0.1, port 123", StringComparison.Ordinal)..];
        Assert.Matches(
            """
            ^server 127\.0\.0\.1, port 123
            stratum 11, precision -\d+, leap 00, trust 000
            refid \[127\.127\.1\.0\], delay \d\.\d{5}, dispersion \d\.\d{5}
            transmitted 4, in filter 4
            reference time:    [0-9a-f]{8}\.[0-9a-f]{8}  \w{3}, \w{3} [ \d]\d \d{4} [ \d]\d:\d\d:\d\d\.\d{3}
            originate timestamp: [0-9a-f]{8}\.[0-9a-f]{8}  .+
            transmit timestamp:  [0-9a-f]{8}\.[0-9a-f]{8}  .+
            filter delay: ( [-\d. ]{8}){4}
                    ( [-\d. ]{8}){4}
            filter offset:( [-\d. ]{8}){4}
                    ( [-\d. ]{8}){4}
            delay \d\.\d{5}, dispersion \d\.\d{5}
            offset -?\d\.\d{6}

            [ \d]\d \w{3} \d\d:\d\d:\d\d ntpdate\[\d+\]: adjust time server 127\.0\.0\.1 offset -?\d\.\d{6} sec
            $
            """,
            report);
    }
}
