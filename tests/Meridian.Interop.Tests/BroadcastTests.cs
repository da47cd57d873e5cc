using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Meridian.Interop.Tests;

/// <summary>What the broadcast, multicast and manycast tests share: the seeds' files, our daemon, ntpq's rows.</summary>
internal static class Broadcasting
{
    public static readonly TimeSpan ToSynchronize = TimeSpan.FromSeconds(120);

    /// <summary>
    /// A seed's configuration with <paramref name="changes"/> applied (addresses, interface names, file paths): each
    /// must find its text, so that a changed seed fails the test instead of quietly testing something else.
    /// </summary>
    public static string Seed(string file, params (string From, string To)[] changes)
    {
        string text = File.ReadAllText(Path.Combine(Sandbox.RepoRoot, "tests", "Meridian.Config.Tests", "Seeds", file));
        foreach ((string from, string to) in changes)
        {
            Assert.True(text.Contains(from, StringComparison.Ordinal), $"{file} no longer says '{from}'");
            text = text.Replace(from, to, StringComparison.Ordinal);
        }

        return text;
    }

    /// <summary>Our ntpd on <paramref name="config"/>, never touching the clock, logging to ntpd.log in the namespace's directory.</summary>
    public static Daemon StartOurs(NetworkNamespace ns, string config) =>
        ns.Start(Sandbox.Out("ntpd"), "-n", "-c", ns.WriteFile("ntp.conf", config + "\ndisable ntp\n"), "-l", LogOf(ns));

    public static string LogOf(NetworkNamespace ns) => Path.Combine(ns.Directory, "ntpd.log");

    public static string Log(NetworkNamespace ns) => File.Exists(LogOf(ns)) ? File.ReadAllText(LogOf(ns)) : "";

    /// <summary>Waits until ntpq -pn on the host shows <paramref name="address"/> as the system peer; the time it took and the rows.</summary>
    public static (TimeSpan Took, string Peers) AwaitSystemPeer(NetworkNamespace ns, string address, Stopwatch since, Daemon daemon)
    {
        CommandResult peers = ns.RunUntil(r => r.Stdout.Contains("*" + address + " ", StringComparison.Ordinal), ToSynchronize, Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        TimeSpan took = since.Elapsed;
        Assert.True(peers.Stdout.Contains("*" + address + " ", StringComparison.Ordinal), $"{address} never became the system peer\n{peers}\n{Log(ns)}{daemon.Output}");
        return (took, peers.Stdout);
    }

    /// <summary>One row of ntpq -p: its refid, stratum, type letter and offset (ms).</summary>
    public static (string Refid, int Stratum, char Type, double Offset) Row(string peers, string address)
    {
        Match m = Regex.Match(peers, $@"^.{Regex.Escape(address)}\s+(\S+)\s+(\d+) (\w)\s+\S+\s+\d+\s+[0-7]+\s+[\d.]+\s+(-?[\d.]+)\s+[\d.]+$", RegexOptions.Multiline);
        Assert.True(m.Success, $"no row for {address} in\n{peers}");
        return (m.Groups[1].Value, int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), m.Groups[3].Value[0], double.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture));
    }

    /// <summary>The host's stratum as ntpq reads it, or -1 while its daemon does not answer.</summary>
    public static int Stratum(NetworkNamespace ns)
    {
        CommandResult rv = ns.Run(TimeSpan.FromSeconds(10), Sandbox.Out("ntpq"), "-c", "rv 0 stratum", "127.0.0.1");
        Match m = Regex.Match(rv.Stdout, @"stratum=(\d+)");
        return m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : -1;
    }

    /// <summary>ntpq -pn once every row in <paramref name="wanted"/> (address, stratum, type) is there as given.</summary>
    public static string AwaitRows(NetworkNamespace ns, params (string Address, int Stratum, char Type)[] wanted)
    {
        CommandResult peers = ns.RunUntil(r => wanted.All(w => Has(r.Stdout, w)), ToSynchronize, Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        foreach ((string address, int stratum, char type) in wanted)
        {
            Assert.True(Has(peers.Stdout, (address, stratum, type)), $"no row {address} at stratum {stratum}, type {type}:\n{peers}\n{Log(ns)}");
        }

        return peers.Stdout;
    }

    private static bool Has(string peers, (string Address, int Stratum, char Type) row) =>
        Regex.IsMatch(peers, $@"^.{Regex.Escape(row.Address)}\s+\S+\s+{row.Stratum} {row.Type}\s", RegexOptions.Multiline);

    public static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);

    public static string Ms(double offset) => offset.ToString("+0.000;-0.000", CultureInfo.InvariantCulture);

    /// <summary>The local clock as a stratum-1 stand-in for the seeds' public servers, open to symmetric peers.</summary>
    public const string Upstream = "server 127.127.1.0\nfudge 127.127.1.0 stratum 0\nrestrict default kod nomodify notrap\ndisable auth\n";
}

/// <summary>Seed 000's multicast network and seed 004's broadcast network, on a bridged LAN of namespaces.</summary>
public sealed class BroadcastLanTests
{
    [InteropFact]
    public void Seed_000s_multicast_server_gives_three_clients_with_no_unicast_server_their_time()
    {
        using var lan = new Lan(40, 240, 11, 12, 13);
        string server = Broadcasting.Seed("seed000-server.conf",
            ("/var/lib/ntp/ntp.drift", Path.Combine(lan[0].Directory, "ntp.drift")),
            ("logfile /var/log/ntp.log\n", ""),
            ("#statsdir /var/log/ntpstats/", $"statsdir {Path.Combine(lan[0].Directory, "stats")}/"),
            ("192.168.0.0 mask 255.255.0.0", "198.18.0.0 mask 255.254.0.0"));
        Daemon serverDaemon = Broadcasting.StartOurs(lan[0], server);
        var clock = Stopwatch.StartNew();
        var clients = new Daemon[3];
        for (int i = 1; i <= 3; i++)
        {
            // The seed's client as it is: interface listen eth0, multicastclient 224.0.1.1, disable auth.
            clients[i - 1] = Broadcasting.StartOurs(lan[i], Broadcasting.Seed("seed000-client.conf", ("logfile /var/log/ntp.log\n", "")));
        }

        var figures = new List<string>();
        for (int i = 1; i <= 3; i++)
        {
            (TimeSpan took, string peers) = Broadcasting.AwaitSystemPeer(lan[i], lan.Address(0), clock, clients[i - 1]);
            (string refid, int stratum, char type, double offset) = Broadcasting.Row(peers, lan.Address(0));
            Assert.Equal(("127.127.1.1", 11, 'm'), (refid, stratum, type));
            Assert.InRange(Math.Abs(offset), 0, 1.0);
            Assert.Equal(12, Broadcasting.Stratum(lan[i]));
            figures.Add($"{Broadcasting.Seconds(took)} s ({Broadcasting.Ms(offset)} ms)");
        }

        // The seed's ntpq -p, names and all: the server by its name, its refid the local clock, LOCAL(1).
        lan[1].Hosts($"{lan.Address(0)} ntpserver\n127.0.0.1 localhost\n");
        CommandResult named = lan[1].Run(TimeSpan.FromSeconds(20), Sandbox.Out("ntpq"), "-p", "127.0.0.1");
        Assert.Matches(new Regex(@"^\*ntpserver\s+LOCAL\(1\)\s+11 m\s+\d+\s+8\s+[0-7]+\s", RegexOptions.Multiline), named.Stdout);

        // The client's other views of the association: ntpdc's peers (~ broadcast client, local address the group),
        // rv's modes, the MRU list's mode 5.
        CommandResult ntpdc = lan[1].Run(TimeSpan.FromSeconds(20), Sandbox.Out("ntpdc"), "-n", "-c", "peers", "127.0.0.1");
        Assert.Matches(new Regex($@"^\*{Regex.Escape(lan.Address(0))}\s+224\.0\.1\.1\s+11\s+8\s", RegexOptions.Multiline), ntpdc.Stdout);
        CommandResult rv = lan[1].Run(TimeSpan.FromSeconds(20), Sandbox.Out("ntpq"), "-c", "rv &1 dstadr,hmode,pmode", "127.0.0.1");
        Assert.Contains("dstadr=224.0.1.1, hmode=6, pmode=5", rv.Stdout.Replace("\n", " ", StringComparison.Ordinal), StringComparison.Ordinal);
        CommandResult mru = lan[1].Run(TimeSpan.FromSeconds(20), Sandbox.Out("ntpq"), "-n", "-c", "mrulist", "127.0.0.1");
        Assert.Matches(new Regex($@"\s5 4\s+\d+\s+123 {Regex.Escape(lan.Address(0))}$", RegexOptions.Multiline), mru.Stdout);

        // The server's side: its multicast association as ntpd shows it, and what the clients' volleys asked.
        CommandResult own = lan[0].Run(TimeSpan.FromSeconds(20), Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        Assert.Matches(new Regex(@"^ 224\.0\.1\.1\s+\.MCST\.\s+16 M\s+\S+\s+8\s", RegexOptions.Multiline), own.Stdout + serverDaemon.Output);
        Assert.Contains("configured broadcast 224.0.1.1 minpoll 3", Broadcasting.Log(lan[0]), StringComparison.Ordinal);

        // The seed logs loopstats and peerstats (its statsdir moved into the test's directory): the local clock's.
        string stats = Path.Combine(lan[0].Directory, "stats");
        Assert.True(NetworkNamespace.Await(() => File.Exists(Path.Combine(stats, "loopstats")) && File.Exists(Path.Combine(stats, "peerstats")), TimeSpan.FromSeconds(30)), Broadcasting.Log(lan[0]));
        Assert.Contains(File.ReadAllLines(Path.Combine(stats, "peerstats")), l => l.Split(' ') is [_, _, "127.127.1.1", _, _, _, _, _]);

        Figures.Record($"seed 000 LAN (multicast 224.0.1.1 every 8 s, server at stratum 11): 3 clients synchronized at stratum 12 after {string.Join(", ", figures)} (from start; ntpq -p offset)");
    }

    [InteropFact]
    public void Seed_004s_stratum_3_broadcast_client_takes_the_signed_broadcasts_of_a_stratum_2_peer_and_ignores_the_unsigned()
    {
        // acapulco 10.0.246.16, moscow 10.0.246.7, chicago (a stratum-3 host), and one stratum-1 host standing in for
        // the public servers the seed's stratum-2 hosts peer with.
        using var lan = new Lan(41, 16, 7, 30, 1);
        NetworkNamespace acapulco = lan[0], moscow = lan[1], chicago = lan[2], upstream = lan[3];
        string hosts = $"{lan.Address(0)} acapulco.mynet.com\n{lan.Address(1)} moscow.mynet.com\n198.18.41.11 seattle.mynet.com\n127.0.0.1 localhost\n";
        string keys = File.ReadAllText(Path.Combine(Sandbox.RepoRoot, "tests", "Meridian.Config.Tests", "Seeds", "seed004-ntp.keys"));
        foreach (NetworkNamespace host in new[] { acapulco, moscow, chicago })
        {
            host.Hosts(hosts);
            host.WriteFile("ntp.keys", keys);
        }

        Broadcasting.StartOurs(upstream, Broadcasting.Upstream);
        (string, string) Common(NetworkNamespace host, string keysLine) => (keysLine, $"keys {Path.Combine(host.Directory, "ntp.keys")}");

        // acapulco signs its broadcasts with the seed's key 2313 (MD5); moscow broadcasts as the seed has it, unsigned.
        // The test's minute is the seed's hour: peers poll every 8-16 s instead of 64-1024, broadcasts go every 8 s.
        const string Fast = " minpoll 3 maxpoll 4";
        Daemon a = Broadcasting.StartOurs(acapulco, Broadcasting.Seed("seed004-acapulco.conf",
            ("peer 128.115.14.97", $"peer {lan.Address(3)}{Fast}"), ("peer 16.1.0.22 # clepsydra.dec.com\n", ""), ("peer moscow.mynet.com", "peer moscow.mynet.com" + Fast),
            ("broadcast 10.0.246.255", $"broadcast {lan.Broadcast} key 2313 minpoll 3"), ("/etc/ntp.drift", Path.Combine(acapulco.Directory, "ntp.drift")),
            Common(acapulco, "keys seed004-ntp.keys")) + "trustedkey 2313\n");
        Daemon m = Broadcasting.StartOurs(moscow, Broadcasting.Seed("seed004-moscow.conf",
            ("peer 130.43.2.2 version 1 # apple.com (running ntpd)\n", ""), ("peer 192.52.195.10", $"peer {lan.Address(3)}{Fast}"), ("peer acapulco.mynet.com", "peer acapulco.mynet.com" + Fast),
            ("broadcast 10.0.246.255", $"broadcast {lan.Broadcast} minpoll 3"), ("/etc/ntp.drift", Path.Combine(moscow.Directory, "ntp.drift")),
            Common(moscow, "keys seed004-ntp.keys")));
        var clock = Stopwatch.StartNew();
        Daemon c = Broadcasting.StartOurs(chicago, Broadcasting.Seed("seed004-chicago.conf",
            ("/etc/ntp.drift", Path.Combine(chicago.Directory, "ntp.drift")), Common(chicago, "keys seed004-ntp.keys")) + "trustedkey 2313\n");

        // The stratum-2 hosts: each synchronized to the stand-in, with the other as a symmetric peer at stratum 2 and
        // its broadcast association (B) beside them.
        foreach ((NetworkNamespace host, Daemon daemon, string other) in new[] { (acapulco, a, lan.Address(1)), (moscow, m, lan.Address(0)) })
        {
            Broadcasting.AwaitSystemPeer(host, lan.Address(3), clock, daemon);
            Broadcasting.AwaitRows(host, (lan.Address(3), 1, 's'), (other, 2, 's'), (lan.Broadcast, 16, 'B'));
        }

        (TimeSpan took, string rows) = Broadcasting.AwaitSystemPeer(chicago, lan.Address(0), clock, c);
        (string refid, int stratum, char type, double offset) = Broadcasting.Row(rows, lan.Address(0));
        Assert.Equal((lan.Address(3), 2, 'b'), (refid, stratum, type));
        // The volley measured the delay: broadcastdelay 0.0500 would have put the clock 50 ms off.
        Assert.InRange(Math.Abs(offset), 0, 1.0);
        Assert.Equal(3, Broadcasting.Stratum(chicago));
        Assert.DoesNotContain(lan.Address(1), rows, StringComparison.Ordinal);
        string log = Broadcasting.Log(chicago);
        Assert.Contains($"broadcast from {lan.Address(1)} ignored: not authenticated, and 'enable auth' requires it", log, StringComparison.Ordinal);
        CommandResult stats = chicago.Run(TimeSpan.FromSeconds(20), Sandbox.Out("ntpq"), "-c", "sysstats", "127.0.0.1");
        Match failed = Regex.Match(stats.Stdout, @"^authentication failed:\s+(\d+)$", RegexOptions.Multiline);
        Assert.True(failed.Success && int.Parse(failed.Groups[1].Value, CultureInfo.InvariantCulture) >= 1, stats.ToString());

        Figures.Record($"seed 004 LAN: chicago (broadcastclient yes, broadcastdelay 0.0500) synchronized to acapulco's MD5-signed broadcasts after {Broadcasting.Seconds(took)} s, offset {Broadcasting.Ms(offset)} ms; moscow's unsigned ones ignored");
    }
}

/// <summary>A broadcast server we did not write, and broadcast authentication against an attacker on the LAN.</summary>
public sealed class BroadcastInteropTests
{
    [InteropFact]
    public void Our_broadcast_clients_synchronize_to_chronyd_broadcasting_every_16_s()
    {
        using var lan = new Lan(42, 1, 2, 3);
        string config = lan[0].WriteFile("chrony.conf", $"""
            local stratum 3
            allow
            broadcast 16 {lan.Broadcast}
            cmdport 0
            pidfile {lan[0].Directory}/chronyd.pid
            """);
        lan[0].Start(Sandbox.Chronyd, "-d", "-x", "-u", "root", "-f", config);
        var clock = Stopwatch.StartNew();
        // chronyd cannot sign its broadcasts: the clients trust the LAN (disable auth), one measuring the delay with a
        // volley, one taking broadcastdelay for it.
        Daemon calibrated = Broadcasting.StartOurs(lan[1], "broadcastclient\ndisable auth\n");
        Daemon assumed = Broadcasting.StartOurs(lan[2], "broadcastclient novolley\nbroadcastdelay 0.0001\ndisable auth\n");

        var figures = new List<string>();
        foreach ((NetworkNamespace host, Daemon daemon, string how) in new[] { (lan[1], calibrated, "with a volley"), (lan[2], assumed, "novolley, broadcastdelay 0.0001") })
        {
            (TimeSpan took, string peers) = Broadcasting.AwaitSystemPeer(host, lan.Address(0), clock, daemon);
            (string refid, int stratum, char type, double offset) = Broadcasting.Row(peers, lan.Address(0));
            Assert.Equal(("127.127.1.1", 3, 'b'), (refid, stratum, type));
            Assert.InRange(Math.Abs(offset), 0, 1.0);
            Assert.Equal(4, Broadcasting.Stratum(host));
            figures.Add($"{how} after {Broadcasting.Seconds(took)} s ({Broadcasting.Ms(offset)} ms)");
        }

        Assert.Contains("measuring the delay with a volley", Broadcasting.Log(lan[1]), StringComparison.Ordinal);
        Assert.Contains("delay 0.000100 s (novolley)", Broadcasting.Log(lan[2]), StringComparison.Ordinal);
        Figures.Record($"chronyd 'broadcast 16 {lan.Broadcast}' -> our broadcastclient: synchronized {string.Join("; ", figures)} (from start; ntpq -p offset)");
    }

    [InteropFact]
    public void Under_enable_auth_a_SHA1_signed_broadcast_is_used_an_unsigned_client_hears_nothing_and_a_replay_is_dropped()
    {
        using var lan = new Lan(43, 1, 2, 3, 4);
        const string Key = "1 SHA1 0d2a59f0f6e2c0a4a4c9e5a8a1c3b3f2e7d6c5b4\n";
        foreach (int host in new[] { 0, 1 })
        {
            lan[host].WriteFile("ntp.keys", Key);
        }

        Broadcasting.StartOurs(lan[0], $"server 127.127.1.0\nfudge 127.127.1.0 stratum 1\nbroadcast {lan.Broadcast} key 1 minpoll 3\nkeys {Path.Combine(lan[0].Directory, "ntp.keys")}\ntrustedkey 1\n");
        var clock = Stopwatch.StartNew();
        Daemon signed = Broadcasting.StartOurs(lan[1], $"broadcastclient\nkeys {Path.Combine(lan[1].Directory, "ntp.keys")}\ntrustedkey 1\n");
        Broadcasting.StartOurs(lan[2], "broadcastclient\n");

        (TimeSpan took, string peers) = Broadcasting.AwaitSystemPeer(lan[1], lan.Address(0), clock, signed);
        Assert.Equal((2, 'b'), (Broadcasting.Row(peers, lan.Address(0)).Stratum, Broadcasting.Row(peers, lan.Address(0)).Type));
        CommandResult associations = lan[1].Run(TimeSpan.FromSeconds(20), Sandbox.Out("ntpq"), "-n", "-c", "as", "127.0.0.1");
        // Not configured (an ephemeral association), reachable, authentic.
        Assert.Matches(new Regex(@"^\s+1\s+\d+\s+\w{4}\s+no\s+yes\s+ok\s", RegexOptions.Multiline), associations.Stdout);

        // An attacker on the LAN records one broadcast and sends it again 10 s later from the server's address.
        CommandResult replay = lan[3].Run(TimeSpan.FromSeconds(60), "/usr/bin/python3", Path.Combine(AppContext.BaseDirectory, "Shims", "replay.py"), lan.Broadcast, "10");
        Assert.True(replay.ExitCode == 0 && replay.Stdout.StartsWith($"replayed 72 octets from {lan.Address(0)}:123", StringComparison.Ordinal), replay.ToString());
        Assert.True(NetworkNamespace.Await(() => OldPackets(lan[1]) >= 1, TimeSpan.FromSeconds(10)), $"the replay was not counted: oldpkt={OldPackets(lan[1])}");
        (string _, int _, char _, double offset) = Broadcasting.Row(lan[1].Run(TimeSpan.FromSeconds(20), Sandbox.Out("ntpq"), "-pn", "127.0.0.1").Stdout, lan.Address(0));
        Assert.InRange(Math.Abs(offset), 0, 1.0);

        // The client without the key: no association, the drops counted, and the log says what to configure.
        CommandResult none = lan[2].Run(TimeSpan.FromSeconds(20), Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        Assert.DoesNotContain(lan.Address(0), none.Stdout, StringComparison.Ordinal);
        Assert.Contains($"broadcast from {lan.Address(0)} ignored: its MAC does not verify with our trusted keys", Broadcasting.Log(lan[2]), StringComparison.Ordinal);
        CommandResult stats = lan[2].Run(TimeSpan.FromSeconds(20), Sandbox.Out("ntpq"), "-c", "sysstats", "127.0.0.1");
        Match failed = Regex.Match(stats.Stdout, @"^authentication failed:\s+(\d+)$", RegexOptions.Multiline);
        Assert.True(failed.Success && int.Parse(failed.Groups[1].Value, CultureInfo.InvariantCulture) >= 2, stats.ToString());

        Figures.Record($"SHA1-signed broadcast every 8 s: client synchronized after {Broadcasting.Seconds(took)} s; a replay 10 s later was dropped (oldpkt {OldPackets(lan[1])}), offset after it {Broadcasting.Ms(offset)} ms");
    }

    private static int OldPackets(NetworkNamespace ns)
    {
        CommandResult rv = ns.Run(TimeSpan.FromSeconds(10), Sandbox.Out("ntpq"), "-c", "rv &1 oldpkt", "127.0.0.1");
        Match m = Regex.Match(rv.Stdout, @"oldpkt=(\d+)");
        return m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : -1;
    }
}

/// <summary>Manycast: servers that answer requests to a group, and a client that finds them there.</summary>
public sealed class ManycastTests
{
    [InteropFact]
    public void A_manycast_client_finds_three_manycast_servers_and_synchronizes_to_one()
    {
        using var lan = new Lan(44, 1, 2, 3, 4);
        const string Key = "3 MD5 manycast-secret\n";
        for (int host = 0; host < 4; host++)
        {
            lan[host].WriteFile("ntp.keys", Key);
        }

        string Keys(int host) => $"keys {Path.Combine(lan[host].Directory, "ntp.keys")}\ntrustedkey 3\n";
        for (int host = 0; host < 3; host++)
        {
            Broadcasting.StartOurs(lan[host], $"server 127.127.1.0\nfudge 127.127.1.0 stratum {5 + host}\nmanycastserver 224.0.1.1\n{Keys(host)}");
        }

        for (int host = 0; host < 3; host++)
        {
            int served = 6 + host;
            Assert.True(NetworkNamespace.Await(() => Broadcasting.Stratum(lan[host]) == served, TimeSpan.FromSeconds(30)), Broadcasting.Log(lan[host]));
        }

        var clock = Stopwatch.StartNew();
        Daemon client = Broadcasting.StartOurs(lan[3], $"manycastclient 224.0.1.1 key 3 minpoll 4\n{Keys(3)}");

        // The lowest stratum wins: the server at 6.
        (TimeSpan took, string peers) = Broadcasting.AwaitSystemPeer(lan[3], lan.Address(0), clock, client);
        Assert.Equal((6, 'u'), (Broadcasting.Row(peers, lan.Address(0)).Stratum, Broadcasting.Row(peers, lan.Address(0)).Type));
        Broadcasting.AwaitRows(lan[3], (lan.Address(1), 7, 'u'), (lan.Address(2), 8, 'u'), ("224.0.1.1", 16, 'a'));
        Assert.Equal(7, Broadcasting.Stratum(lan[3]));
        string log = Broadcasting.Log(lan[3]);
        for (int host = 0; host < 3; host++)
        {
            Assert.Contains($"manycast 224.0.1.1: mobilized {lan.Address(host)}", log, StringComparison.Ordinal);
        }

        Figures.Record($"manycast 224.0.1.1 (MD5): the client found 3 servers and synchronized to the stratum-6 one after {Broadcasting.Seconds(took)} s");
    }
}
