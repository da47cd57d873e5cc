using System.Text.RegularExpressions;

namespace Meridian.Interop.Tests;

/// <summary>Mode 6 against real tools: NTPsec's ntpq against our ntpd, our ntpq against NTPsec's ntpd, ntpstat, ntptrace.</summary>
public sealed class ControlTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    private const string LocalClock = """
        server 127.127.1.0
        fudge 127.127.1.0 stratum 10
        disable ntp
        """;

    private static Daemon StartOurs(NetworkNamespace ns, string config)
    {
        Daemon ntpd = ns.Start(Sandbox.Out("ntpd"), "-n", "-c", ns.WriteFile("ntp.conf", config));
        ns.RunUntil(r => r.Stdout.Contains(" s1", StringComparison.Ordinal), Short, "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");
        return ntpd;
    }

    [InteropFact]
    public void NTPsec_ntpq_reads_our_peers_variables_and_associations()
    {
        using var ns = new NetworkNamespace();
        Daemon ntpd = StartOurs(ns, LocalClock);

        CommandResult peers = ns.RunUntil(r => r.Stdout.Contains('*', StringComparison.Ordinal), Short, "/usr/bin/ntpq", "-n", "-p", "127.0.0.1");
        CommandResult rv = ns.Run(Short, "/usr/bin/ntpq", "-c", "rv", "127.0.0.1");
        CommandResult associations = ns.Run(Short, "/usr/bin/ntpq", "-c", "as", "127.0.0.1");
        CommandResult peer = ns.Run(Short, "/usr/bin/ntpq", "-c", "rv &1", "127.0.0.1");
        CommandResult mrulist = ns.Run(Short, "/usr/bin/ntpq", "-n", "-c", "mrulist", "127.0.0.1");
        CommandResult ours = ns.Run(Short, Sandbox.Out("ntpq"), "-n", "-c", "mrulist", "127.0.0.1");
        CommandResult sysstats = ns.Run(Short, Sandbox.Out("ntpq"), "-c", "sysstats", "127.0.0.1");

        Assert.True(peers.ExitCode == 0, peers + ntpd.Output);
        Assert.Matches(new Regex(@"^\*127\.127\.1\.0\s+\.LOCL\.\s+10 [ul]\s", RegexOptions.Multiline), peers.Stdout);
        Assert.Matches(new Regex(@"^associd=0 status=05\w\w leap_none, sync_local, \d+ events?, \w+,", RegexOptions.Multiline), rv.Stdout);
        Assert.Contains("stratum=11", rv.Stdout, StringComparison.Ordinal);
        Assert.Contains("version=\"ntpd Meridian", rv.Stdout, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"^\s+1\s+1\s+96\w\w\s+yes\s+yes\s+none\s+sys\.peer\s+sys_peer\s+\d+", RegexOptions.Multiline), associations.Stdout);
        Assert.Contains("srcadr=127.127.1.0", peer.Stdout, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"^uptime:\s{17}\d+\n(.*\n){2}current version:\s+[1-9]\d*\n(.*\n){7}processed for time:\s+[1-9]\d*\n$"), sysstats.Stdout);
        // ntpdig's client requests (mode 3, version 4) are in the MRU list.
        Assert.Matches(new Regex(@"^\s+\d+\s+\S+\s+0 \. 3 4\s+\d+\s.*\s\d+ 127\.0\.0\.1$", RegexOptions.Multiline), mrulist.Stdout);
        Assert.Matches(new Regex(@"^lstint avgint rstr r m v  count rport remote address\n={78}\n", RegexOptions.Multiline), ours.Stdout);
        Assert.Matches(new Regex(@"^\s+\d+\s+\d+\s+0 \. 3 4\s+\d+\s+\d+ 127\.0\.0\.1$", RegexOptions.Multiline), ours.Stdout);
        Assert.True(Regex.IsMatch(peer.Stdout, @"reach=0?[1-7][0-7]*,"), peer.Stdout);
    }

    [InteropFact]
    public void Our_ntpq_prints_the_rows_NTPsec_ntpq_prints_for_NTPsec_ntpd()
    {
        using var upstream = new NetworkNamespace();
        using var downstream = new NetworkNamespace();
        upstream.LinkTo(downstream, "198.18.0.1", "198.18.0.2");
        ClientTests.StartChronyServer(upstream);
        string config = downstream.WriteFile("ntp.conf", $"""
            server 198.18.0.1 iburst minpoll 4
            disable ntp
            unrestrict default noquery limited
            driftfile {downstream.Directory}/drift
            statsdir {downstream.Directory}/
            """);
        downstream.Start("/usr/sbin/ntpd", "-n", "-c", config);

        CommandResult theirs = downstream.RunUntil(r => r.Stdout.Contains("*198.18.0.1", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "/usr/bin/ntpq", "-n", "-p", "127.0.0.1");
        CommandResult ours = downstream.Run(Short, Sandbox.Out("ntpq"), "-n", "-p", "127.0.0.1");
        CommandResult rv = downstream.Run(Short, Sandbox.Out("ntpq"), "-c", "rv 0 stratum,refid,version", "127.0.0.1");

        Assert.True(ours.ExitCode == 0, ours.ToString());
        string[] lines = ours.Stdout.Split('\n');
        Assert.Equal("     remote           refid      st t when poll reach   delay   offset  jitter", lines[0]);
        Assert.Equal(new string('=', 78), lines[1]);
        // Same remote, refid, stratum, type and poll as NTPsec's own row; reach only grows between the two runs.
        Match mine = Regex.Match(lines[2], @"^\*(\S+)\s+(\S+)\s+(\d+) (\w)\s+\S+\s+(\S+)\s+(\d+)\s+(-?\d+\.\d{3})\s+(-?\d+\.\d{3})\s+(-?\d+\.\d{3})$");
        Match theirRow = Regex.Match(theirs.Stdout, @"^\*(\S+)\s+(\S+)\s+(\d+) (\w)\s+\S+\s+(\S+)\s+(\d+)", RegexOptions.Multiline);
        Assert.True(mine.Success, ours.Stdout);
        Assert.True(theirRow.Success, theirs.Stdout);
        for (int g = 1; g <= 5; g++)
        {
            Assert.Equal(theirRow.Groups[g].Value, mine.Groups[g].Value);
        }

        Assert.Matches(new Regex(@"^associd=0 status=\w{4} leap_\w+, sync_\w+, \d+ events?, \w+,\nstratum=4, refid=198\.18\.0\.1, version=""ntpd ntpsec-", RegexOptions.Multiline), rv.Stdout);
    }

    [InteropFact]
    public void Ntpstat_reports_synchronisation_and_an_absent_daemon()
    {
        using var ns = new NetworkNamespace();
        CommandResult absent = ns.Run(Short, Sandbox.Out("ntpstat"));
        Assert.Equal(2, absent.ExitCode);
        Assert.Equal("Unable to talk to NTP daemon. Is it running?\n", absent.Stderr);

        StartOurs(ns, LocalClock);
        CommandResult synced = ns.RunUntil(r => r.ExitCode == 0, Short, Sandbox.Out("ntpstat"));
        Assert.Matches(new Regex(@"^synchronised to local net at stratum 11\n   time correct to within \d+ ms\n   polling server every \d+ s\n$"), synced.Stdout);
        Assert.Equal(3, ns.Run(Short, Sandbox.Out("ntpstat"), "-x").ExitCode);
    }

    [InteropFact]
    public void Ntptrace_follows_the_system_peers_to_the_local_clock()
    {
        using var top = new NetworkNamespace();
        using var below = new NetworkNamespace();
        top.LinkTo(below, "198.18.0.1", "198.18.0.2");
        // Without a restrict line other hosts may not query (NTPsec's default): the top lets the subnet in.
        StartOurs(top, LocalClock + "\nrestrict default\n");
        StartOurs(below, "server 198.18.0.1 iburst\ndisable ntp\n");
        below.RunUntil(r => r.Stdout.Contains(" s12 ", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");

        CommandResult trace = below.Run(Short, Sandbox.Out("ntptrace"), "-n", "127.0.0.1");

        string[] lines = trace.Stdout.TrimEnd('\n').Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.Matches(@"^127\.0\.0\.1: stratum 12, offset -?\d+\.\d{7}, synch distance \d+\.\d{6}, refid '198\.18\.0\.1'$", lines[0]);
        Assert.Matches(@"^198\.18\.0\.1: stratum 11, offset -?\d+\.\d{7}, synch distance \d+\.\d{6}, refid 'LOCL'$", lines[1]);

        CommandResult timeout = below.Run(Short, Sandbox.Out("ntptrace"), "-n", "198.18.0.7");
        Assert.Equal("198.18.0.7: *Timeout*\n", timeout.Stdout);
    }

    [InteropFact]
    public void Config_with_the_control_key_adds_an_association_and_without_it_is_refused()
    {
        using var ns = new NetworkNamespace();
        string keys = ns.WriteFile("ntp.keys", "1 SHA1 0123456789abcdef0123456789abcdef01234567\n2 MD5 other\n");
        if (OperatingSystem.IsLinux())
        {
            File.SetUnixFileMode(keys, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        StartOurs(ns, LocalClock + $"\nkeys {keys}\ntrustedkey 1 2\ncontrolkey 1\n");

        CommandResult refused = ns.Run(Short, "/usr/bin/ntpq", "-a", "2", "-k", keys, "-c", ":config server 127.127.1.1", "127.0.0.1");
        CommandResult accepted = ns.Run(Short, "/usr/bin/ntpq", "-a", "1", "-k", keys, "-c", ":config server 127.127.1.1", "127.0.0.1");
        CommandResult ours = ns.Run(Short, Sandbox.Out("ntpq"), "-c", "keyid 1", "-c", "keytype sha1", "-c", "passwd 0123456789abcdef0123456789abcdef01234567", "-c", ":config server 127.127.1.2", "127.0.0.1");
        CommandResult oursRefused = ns.Run(Short, Sandbox.Out("ntpq"), "-a", "2", "-k", keys, "-c", ":config server 127.127.1.3", "127.0.0.1");
        CommandResult peers = ns.Run(Short, Sandbox.Out("ntpq"), "-n", "-p", "127.0.0.1");

        Assert.Contains("PERMISSION", refused.Stdout + refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("Config Succeeded", accepted.Stdout, StringComparison.Ordinal);
        Assert.Contains("Config Succeeded", ours.Stdout, StringComparison.Ordinal);
        Assert.Contains("***Server error code PERMISSION", oursRefused.Stderr, StringComparison.Ordinal);
        Assert.Contains(" 127.127.1.1 ", peers.Stdout, StringComparison.Ordinal);
        Assert.Contains(" 127.127.1.2 ", peers.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("127.127.1.3", peers.Stdout, StringComparison.Ordinal);
    }

    [InteropFact]
    public void Without_a_restrict_line_other_hosts_may_get_time_but_not_query()
    {
        using var top = new NetworkNamespace();
        using var below = new NetworkNamespace();
        top.LinkTo(below, "198.18.0.1", "198.18.0.2");
        StartOurs(top, LocalClock);

        CommandResult time = below.RunUntil(r => r.ExitCode == 0, Short, "/usr/bin/ntpdig", "-t", "1", "198.18.0.1");
        CommandResult query = below.Run(Short, Sandbox.Out("ntpq"), "-n", "-c", "timeout 1000", "-c", "rv", "198.18.0.1");
        CommandResult local = top.Run(Short, Sandbox.Out("ntpq"), "-n", "-c", "rv 0 stratum", "127.0.0.1");

        Assert.Contains(" s11 ", time.Stdout, StringComparison.Ordinal);
        Assert.Contains("***Request timed out", query.Stderr, StringComparison.Ordinal);
        Assert.Contains("stratum=11", local.Stdout, StringComparison.Ordinal);
    }
}
