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
        // The clock is named by its srchost, as NTPsec names its own: LOCAL(0), type l.
        Assert.Matches(new Regex(@"^\*LOCAL\(0\)\s+\.LOCL\.\s+10 l\s", RegexOptions.Multiline), peers.Stdout);
        Assert.Matches(new Regex(@"^associd=0 status=05\w\w leap_none, sync_local, \d+ events?, \w+,", RegexOptions.Multiline), rv.Stdout);
        Assert.Contains("stratum=11", rv.Stdout, StringComparison.Ordinal);
        Assert.Contains("version=\"ntpd Meridian", rv.Stdout, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"^\s+1\s+1\s+96\w\w\s+yes\s+yes\s+none\s+sys\.peer\s+sys_peer\s+\d+", RegexOptions.Multiline), associations.Stdout);
        Assert.Contains("srcadr=127.127.1.0", peer.Stdout, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"^uptime:\s{17}\d+\n(.*\n){2}current version:\s+[1-9]\d*\n(.*\n){7}processed for time:\s+[1-9]\d*\n$"), sysstats.Stdout);
        // One MRU entry per address: 127.0.0.1 sent ntpdig's requests (mode 3) and ntpq's queries (mode 6, the last one).
        Assert.True(Regex.IsMatch(mrulist.Stdout, @"^\s+\d+\s+\S+\s+0 \. [36] [24]\s+(?:[2-9]|\d{2,})\s.*\s\d+ 127\.0\.0\.1$", RegexOptions.Multiline), mrulist.Stdout);
        Assert.Matches(new Regex(@"^lstint avgint rstr r m v  count rport remote address\n={78}\n", RegexOptions.Multiline), ours.Stdout);
        Assert.Matches(new Regex(@"^\s+\d+\s+\d+\s+0 \. [36] [24]\s+\d+\s+\d+ 127\.0\.0\.1$", RegexOptions.Multiline), ours.Stdout);
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
        CommandResult counters = downstream.Run(Short, Sandbox.Out("ntpq"), "-c", "iostats", "-c", "sysstats", "-c", "monstats", "127.0.0.1");

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
        // NTPsec's daemon has these counters too (some under other names, which ntpq then skips).
        Assert.True(counters.ExitCode == 0, counters.ToString());
        Assert.Matches(new Regex(@"^received packets:\s{7}[1-9]\d*$", RegexOptions.Multiline), counters.Stdout);
        Assert.Matches(new Regex(@"^packets received:\s{7}[1-9]\d*$", RegexOptions.Multiline), counters.Stdout);
        Assert.Matches(new Regex(@"^addresses:\s{14}[1-9]\d*$", RegexOptions.Multiline), counters.Stdout);
    }

    [InteropFact]
    public void NTPsec_ntpq_shows_our_counters_clock_variables_and_peer_statistics()
    {
        using var ns = new NetworkNamespace();
        Daemon ntpd = StartOurs(ns, LocalClock);
        ns.RunUntil(r => r.Stdout.Contains('*', StringComparison.Ordinal), Short, "/usr/bin/ntpq", "-n", "-p", "127.0.0.1");

        var outputs = new Dictionary<string, CommandResult>();
        foreach (string command in new[] { "kerninfo", "iostats", "authinfo", "monstats", "sysstats", "pstats 1", "cv 1" })
        {
            outputs[command] = ns.Run(Short, "/usr/bin/ntpq", "-c", command, "127.0.0.1");
            Assert.True(outputs[command].ExitCode == 0, command + ": " + outputs[command] + ntpd.Output);
            // Every variable NTPsec's ntpq asks for is answered: no one-at-a-time fallback, no "???".
            Assert.DoesNotContain("???", outputs[command].Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("Unknown variable", outputs[command].Stderr, StringComparison.Ordinal);
        }

        Assert.Matches(new Regex(@"^frequency tolerance:\s+500$", RegexOptions.Multiline), outputs["kerninfo"].Stdout);
        Assert.Matches(new Regex(@"^received packets:\s+[1-9]\d*", RegexOptions.Multiline), outputs["iostats"].Stdout);
        Assert.Matches(new Regex(@"^stored keys:\s+0$", RegexOptions.Multiline), outputs["authinfo"].Stdout);
        Assert.Matches(new Regex(@"^maximum addresses:\s+8192$", RegexOptions.Multiline), outputs["monstats"].Stdout);
        Assert.Matches(new Regex(@"^processed for time:\s+[1-9]\d*", RegexOptions.Multiline), outputs["sysstats"].Stdout);
        Assert.Matches(new Regex(@"^packets received:\s+[1-9]\d*$", RegexOptions.Multiline), outputs["pstats 1"].Stdout);
        Assert.Matches(new Regex(@"^device=""Undisciplined local clock"", timecode="""", poll=\d+, noreply=0,$", RegexOptions.Multiline), outputs["cv 1"].Stdout);
        Assert.Contains("stratum=10, refid=LOCL, flags=0", outputs["cv 1"].Stdout, StringComparison.Ordinal);
    }

    [InteropFact]
    public void Writevar_changes_a_setvar_variable_with_the_key_and_clockvar_reads_the_clock()
    {
        using var ns = new NetworkNamespace();
        string keys = ns.WriteFile("ntp.keys", "5 AES128CMAC 00112233445566778899aabbccddeeff\n");
        StartOurs(ns, LocalClock + $"\nkeys {keys}\ntrustedkey 5\ncontrolkey 5\nsetvar rack = \"row 4\" default\nfudge 127.127.1.0 time1 0.25\n");

        CommandResult refused = ns.Run(Short, Sandbox.Out("ntpq"), "-c", "keyid 5", "-c", "keytype aes128cmac", "-c", "passwd 00112233445566778899aabbccddee00", "-c", "writevar 0 rack=row9", "127.0.0.1");
        CommandResult written = ns.Run(Short, Sandbox.Out("ntpq"), "-a", "5", "-k", keys, "-c", "writevar 0 rack=row9", "-c", "writevar 0 stratum=1", "-c", "rv 0 rack", "127.0.0.1");
        CommandResult clock = ns.Run(Short, Sandbox.Out("ntpq"), "-c", "cv", "127.0.0.1");

        Assert.Contains("***Server error code PERMISSION", refused.Stderr, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"^done! \(no data returned\)\nassocid=0 status=\w{4} [^\n]+\nrack=row9\n$"), written.Stdout);
        Assert.Contains("***Server error code PERMISSION", written.Stderr, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"^associd=0 status=0000 clk_unspec, last_clk_unspec,\ndevice=""Undisciplined local clock"", timecode="""", poll=\d+, noreply=0,\nbadformat=0, baddata=0, fudgetime1=250\.000, stratum=10, refid=LOCL,\nflags=0\n$"), clock.Stdout);
    }

    [InteropFact]
    public void Ntpdc_lists_our_daemon_in_seconds_and_changes_it_with_the_control_key()
    {
        using var top = new NetworkNamespace();
        using var below = new NetworkNamespace();
        top.LinkTo(below, "198.18.0.1", "198.18.0.2");
        string keys = top.WriteFile("ntp.keys", "3 MD5 ntpdcpass\n");
        StartOurs(top, LocalClock + $"\nrestrict default\nkeys {keys}\ntrustedkey 3\ncontrolkey 3\n");
        top.RunUntil(r => r.Stdout.Contains('*', StringComparison.Ordinal), Short, Sandbox.Out("ntpq"), "-n", "-p", "127.0.0.1");

        CommandResult peers = top.Run(Short, Sandbox.Out("ntpdc"), "-n", "-c", "peers", "-c", "listpeers", "-c", "sysinfo", "-c", "loopinfo", "127.0.0.1");
        CommandResult refused = top.Run(Short, Sandbox.Out("ntpdc"), "-c", "addserver 198.18.0.2", "127.0.0.1");
        CommandResult before = below.Run(Short, Sandbox.Out("ntpq"), "-c", "timeout 1000", "-c", "rv 0 stratum", "198.18.0.1");
        CommandResult changed = top.Run(Short, Sandbox.Out("ntpdc"), "-a", "3", "-k", keys, "-c", "addserver 198.18.0.2 0 4 iburst", "-c", "restrict 198.18.0.0 255.255.0.0 noquery", "-c", "disable monitor", "127.0.0.1");
        CommandResult after = below.Run(Short, Sandbox.Out("ntpq"), "-c", "timeout 1000", "-c", "rv 0 stratum", "198.18.0.1");
        CommandResult list = top.Run(Short, Sandbox.Out("ntpdc"), "-n", "-l", "-c", "sysinfo", "127.0.0.1");
        CommandResult removed = top.Run(Short, Sandbox.Out("ntpdc"), "-a", "3", "-k", keys, "-n", "-c", "unconfig 198.18.0.2", "-c", "listpeers", "127.0.0.1");

        string[] lines = peers.Stdout.Split('\n');
        Assert.Equal("     remote           local      st poll reach  delay   offset    disp", lines[0]);
        Assert.Equal(new string('=', 71), lines[1]);
        Assert.Matches(@"^\*127\.127\.1\.0     127\.0\.0\.1       10   64  [ 0-7]{3} 0\.00000  0\.000000 \d\.\d{5}$", lines[2]);
        Assert.Equal("client    127.127.1.0", lines[3]);
        Assert.Contains("\nsystem peer mode:     client\nleap indicator:       00\nstratum:              11\n", peers.Stdout, StringComparison.Ordinal);
        Assert.Contains("\nsystem flags:         auth kernel monitor stats \n", peers.Stdout, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"^offset:               -?\d\.\d{6} s\nfrequency:            -?\d+\.\d{3} ppm$", RegexOptions.Multiline), peers.Stdout);
        Assert.Contains("***Keyid and password are needed", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("stratum=11", before.Stdout, StringComparison.Ordinal);
        Assert.Equal("done!\ndone!\ndone!\n", changed.Stdout);
        Assert.Contains("***Request timed out", after.Stderr, StringComparison.Ordinal);
        Assert.Contains("client    198.18.0.2\n", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("\nsystem flags:         auth kernel stats \n", list.Stdout, StringComparison.Ordinal);
        Assert.Equal("done!\nclient    127.127.1.0\n", removed.Stdout);
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
        Assert.Matches(@"^198\.18\.0\.1: stratum 11, offset -?\d+\.\d{7}, synch distance \d+\.\d{6}, refid '127\.127\.1\.0'$", lines[1]);

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
