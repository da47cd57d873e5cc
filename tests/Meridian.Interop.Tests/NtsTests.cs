using System.Text.RegularExpressions;
using Meridian.Host.Tests.Nts;

namespace Meridian.Interop.Tests;

/// <summary>Network Time Security (RFC 8915) between our ntpd and the reference daemons, in a namespace of its own.</summary>
public sealed class NtsTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    [InteropFact]
    public void Chronyd_synchronizes_to_our_NTS_server_and_shows_AEAD_15_and_its_cookies()
    {
        using var pki = new NtsKeCertificates();
        using var ns = new NetworkNamespace();
        ns.Hosts("127.0.0.1 localhost ntp.test\n");
        Daemon ours = Broadcasting.StartOurs(ns, $"""
            server 127.127.1.0 minpoll 4
            fudge 127.127.1.0 stratum 10
            nts cert {pki.CertFile("ec")}
            nts key {pki.KeyFile("ec")}
            nts enable
            """);
        Assert.True(NetworkNamespace.Await(() => Broadcasting.Log(ns).Contains("NTS-KE: serving TLS 1.3", StringComparison.Ordinal), Short), Broadcasting.Log(ns) + ours.Output);

        // chronyc's authdata is a privileged command: it is asked over chronyd's Unix socket.
        string socket = Path.Combine(ns.Directory, "chronyd.sock");
        string chrony = ns.WriteFile("chrony.conf", $"server ntp.test iburst nts minpoll 4 maxpoll 4\nntstrustedcerts {pki.CaFile}\nbindcmdaddress {socket}\npidfile {ns.Directory}/chronyd.pid\n");
        Daemon chronyd = ns.Start(Sandbox.Chronyd, "-d", "-x", "-u", "root", "-f", chrony);
        CommandResult sources = ns.RunUntil(r => r.Stdout.Contains("^* ntp.test", StringComparison.Ordinal), TimeSpan.FromSeconds(60), Sandbox.Chronyc, "-h", socket, "-N", "sources");
        Assert.True(sources.Stdout.Contains("^* ntp.test", StringComparison.Ordinal), sources + chronyd.Output + Broadcasting.Log(ns));

        // chronyc's NTS view: mode NTS, AEAD 15 (AES-SIV-CMAC-256, a 256-bit key), no NAK, a full jar of cookies.
        CommandResult auth = ns.Run(Short, Sandbox.Chronyc, "-h", socket, "-N", "authdata");
        Match row = Regex.Match(auth.Stdout, @"^ntp\.test\s+NTS\s+\d+\s+15\s+256\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", RegexOptions.Multiline);
        Assert.True(row.Success, auth.ToString());
        Assert.Equal("0", row.Groups[2].Value);
        Assert.InRange(int.Parse(row.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture), 1, 8);
        Figures.Record($"chronyd (nts, ntstrustedcerts) -> our NTS server: selected (^*); chronyc -N authdata: {Regex.Replace(row.Value, @"\s+", " ")}");
    }

    [InteropFact]
    public void Our_client_synchronizes_to_chronyds_NTS_server()
    {
        using var pki = new NtsKeCertificates();
        using var upstream = new NetworkNamespace();
        using var downstream = new NetworkNamespace();
        upstream.LinkTo(downstream, "198.18.0.1", "198.18.0.2");
        string chrony = upstream.WriteFile("chrony.conf", $"""
            local stratum 3
            allow
            ntsserverkey {pki.KeyFile("ec")}
            ntsservercert {pki.CertFile("ec")}
            bindcmdaddress /
            cmdport 0
            pidfile {upstream.Directory}/chronyd.pid
            """);
        Daemon chronyd = upstream.Start(Sandbox.Chronyd, "-d", "-x", "-u", "root", "-f", chrony);
        downstream.Hosts("127.0.0.1 localhost\n198.18.0.1 ntp.test\n");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Daemon ours = Broadcasting.StartOurs(downstream, $"""
            server ntp.test iburst nts minpoll 4 maxpoll 4
            nts ca {pki.CaFile}
            """);

        (TimeSpan took, string peers) = Broadcasting.AwaitSystemPeer(downstream, "198.18.0.1", clock, ours);
        Assert.Matches(new Regex(@"^\*198\.18\.0\.1\s+\S+\s+3 u ", RegexOptions.Multiline), peers);
        string log = Broadcasting.Log(downstream);
        Assert.Matches(new Regex(@"NTS-KE with ntp\.test: AEAD 15, 8 cookies"), log);
        Figures.Record($"our client (server ntp.test nts) -> chronyd's NTS server: NTS-KE AEAD 15 with 8 cookies, system peer after {took.TotalSeconds:0.0} s; {peers.Split('\n').First(l => l.StartsWith('*'))}");
        Assert.False(chronyd.Process.HasExited, chronyd.Output);
    }

    [InteropFact]
    public void NTPsecs_ntpd_synchronizes_to_our_NTS_server()
    {
        using var pki = new NtsKeCertificates();
        using var upstream = new NetworkNamespace();
        using var downstream = new NetworkNamespace();
        upstream.LinkTo(downstream, "198.18.0.1", "198.18.0.2");
        Daemon ours = Broadcasting.StartOurs(upstream, $"""
            server 127.127.1.0 minpoll 4
            fudge 127.127.1.0 stratum 10
            nts cert {pki.CertFile("rsa")}
            nts key {pki.KeyFile("rsa")}
            nts enable
            """);
        downstream.Hosts("127.0.0.1 localhost\n198.18.0.1 ntp.test\n");
        Daemon ntpsec = downstream.Start("/usr/sbin/ntpd", "-n", "-c", downstream.WriteFile("ntp.conf", $"""
            server ntp.test nts iburst minpoll 4 maxpoll 4
            nts ca {pki.CaFile}
            disable ntp
            unrestrict default noquery limited
            driftfile {downstream.Directory}/drift
            """));

        CommandResult theirs = downstream.RunUntil(r => r.Stdout.Contains("*198.18.0.1", StringComparison.Ordinal), TimeSpan.FromSeconds(90), "/usr/bin/ntpq", "-n", "-p", "127.0.0.1");
        Assert.True(theirs.Stdout.Contains("*198.18.0.1", StringComparison.Ordinal), theirs + ntpsec.Output + Broadcasting.Log(upstream));
        // NTPsec's ntpq marks an NTS association with the cookies it holds in the t column's place: no 'u' of plain unicast.
        string row = theirs.Stdout.Split('\n').First(l => l.StartsWith("*198.18.0.1", StringComparison.Ordinal));
        Assert.Matches(new Regex(@"^\*198\.18\.0\.1\s+\S+\s+11 [1-8] "), row);
        Figures.Record($"NTPsec ntpd (server ntp.test nts, nts ca) -> our NTS server: {row.Trim()}");
        Assert.False(ours.Process.HasExited, ours.Output);
    }

    [InteropFact]
    public void Our_client_authenticates_NTPsecs_NTS_server()
    {
        using var pki = new NtsKeCertificates();
        using var source = new NetworkNamespace();
        using var upstream = new NetworkNamespace();
        using var downstream = new NetworkNamespace();
        source.LinkTo(upstream, "198.18.1.1", "198.18.1.2");
        upstream.LinkTo(downstream, "198.18.0.1", "198.18.0.2");
        // NTPsec has no local clock driver: it follows chronyd, so that it serves stratum 4 rather than 16.
        ClientTests.StartChronyServer(source);
        Daemon ntpsec = upstream.Start("/usr/sbin/ntpd", "-n", "-c", upstream.WriteFile("ntp.conf", $"""
            server 198.18.1.1 iburst minpoll 4 maxpoll 4
            nts cert {pki.CertFile("ec")}
            nts key {pki.KeyFile("ec")}
            nts cookie {upstream.Directory}/nts-keys
            nts enable
            disable ntp
            unrestrict default noquery limited
            driftfile {upstream.Directory}/drift
            """));
        downstream.Hosts("127.0.0.1 localhost\n198.18.0.1 ntp.test\n");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Daemon ours = Broadcasting.StartOurs(downstream, $"""
            server ntp.test iburst nts minpoll 4 maxpoll 4
            nts ca {pki.CaFile}
            """);

        // NTPsec under disable ntp never leaves leap 3 (its clock is not disciplined), so it cannot be selected; what
        // NTS must show is that its replies authenticate: the last three polls are in the reach register, at stratum 4.
        CommandResult peers = downstream.RunUntil(r => Regex.IsMatch(r.Stdout, @"^ 198\.18\.0\.1\s+198\.18\.1\.1\s+4 u\s+\S+\s+16\s+\d*7\s", RegexOptions.Multiline), TimeSpan.FromSeconds(90), Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        Assert.Matches(new Regex(@"^ 198\.18\.0\.1\s+198\.18\.1\.1\s+4 u\s+\S+\s+16\s+\d*7\s", RegexOptions.Multiline), peers.Stdout + Broadcasting.Log(downstream));
        TimeSpan took = clock.Elapsed;
        CommandResult rv = downstream.Run(Short, Sandbox.Out("ntpq"), "-c", "rv &1 leap,stratum,reach", "127.0.0.1");
        Assert.Contains("leap=11", rv.Stdout, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"NTS-KE with ntp\.test: AEAD 15, 8 cookies"), Broadcasting.Log(downstream));
        Figures.Record($"our client (server ntp.test nts) -> NTPsec's NTS server (disable ntp, so leap 3): NTS-KE AEAD 15 with 8 cookies, the last three replies authenticated after {took.TotalSeconds:0.0} s; {peers.Stdout.Split('\n').First(l => l.StartsWith(" 198", StringComparison.Ordinal)).Trim()}");
        Assert.False(ntpsec.Process.HasExited, ntpsec.Output);
    }

    [InteropFact]
    public void Our_client_refuses_a_certificate_for_another_name_or_from_an_unknown_CA_and_says_why()
    {
        using var pki = new NtsKeCertificates();
        using var upstream = new NetworkNamespace();
        using var named = new NetworkNamespace();
        using var untrusting = new NetworkNamespace();
        upstream.LinkTo(named, "198.18.0.1", "198.18.0.2");
        upstream.LinkTo(untrusting, "198.18.1.1", "198.18.1.2");
        Daemon server = Broadcasting.StartOurs(upstream, $"""
            server 127.127.1.0 minpoll 4
            fudge 127.127.1.0 stratum 10
            nts cert {pki.CertFile("ec")}
            nts key {pki.KeyFile("ec")}
            nts enable
            """);
        // The certificate names ntp.test: asked for as other.test, it is refused even with the right CA.
        named.Hosts("127.0.0.1 localhost\n198.18.0.1 other.test\n");
        Daemon a = Broadcasting.StartOurs(named, $"server other.test iburst nts minpoll 4\nnts ca {pki.CaFile}\n");
        // Without 'nts ca' the system's CAs are used, and the test's CA is not one of them.
        untrusting.Hosts("127.0.0.1 localhost\n198.18.1.1 ntp.test\n");
        Daemon b = Broadcasting.StartOurs(untrusting, "server ntp.test iburst nts minpoll 4\n");

        Assert.True(NetworkNamespace.Await(() => Broadcasting.Log(named).Contains("NTS-KE with other.test failed (NameMismatch", StringComparison.Ordinal), Short), Broadcasting.Log(named) + a.Output);
        Assert.True(NetworkNamespace.Await(() => Broadcasting.Log(untrusting).Contains("NTS-KE with ntp.test failed (UnknownCa", StringComparison.Ordinal), Short), Broadcasting.Log(untrusting) + b.Output);
        Assert.Contains("trying again in 16 s", Broadcasting.Log(named), StringComparison.Ordinal);
        // Without keys no NTP request goes out: the reach register stays empty.
        CommandResult peers = named.Run(Short, Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        Assert.Matches(new Regex(@"^ 198\.18\.0\.1\s+\S+\s+16 u\s+\S+\s+\d+\s+0\s", RegexOptions.Multiline), peers.Stdout);
        string failure = Broadcasting.Log(named).Split('\n').First(l => l.Contains("NTS-KE with other.test failed", StringComparison.Ordinal));
        Figures.Record($"NTS refusals: {failure[(failure.IndexOf("NTS-KE", StringComparison.Ordinal))..].Trim()}");
        Assert.False(server.Process.HasExited, server.Output);
    }

    [InteropFact]
    public void A_fleet_front_hands_out_cookies_for_another_NTP_server_which_follows_the_fronts_key_rotations()
    {
        using var pki = new NtsKeCertificates();
        using var front = new NetworkNamespace();
        using var follower = new NetworkNamespace();
        using var client = new NetworkNamespace();
        front.LinkTo(client, "198.18.0.1", "198.18.0.2");
        follower.LinkTo(client, "198.18.1.1", "198.18.1.2");
        // One cookie key file for both hosts: the front rotates it every 15 s and writes it, the follower only reads it.
        string keys = Path.Combine(front.Directory, "nts-keys");
        Daemon leader = Broadcasting.StartOurs(front, $"""
            server 127.127.1.0 minpoll 4
            fudge 127.127.1.0 stratum 10
            nts cert {pki.CertFile("ec")}
            nts key {pki.KeyFile("ec")}
            nts cookie {keys}
            nts rotate 15
            nts ntpserver 198.18.1.1
            nts enable
            """);
        Assert.True(NetworkNamespace.Await(() => File.Exists(keys), Short), Broadcasting.Log(front) + leader.Output);
        // The NTP server has no certificate: NTS-authenticated NTP with the shared keys, and no NTS-KE.
        Daemon server = Broadcasting.StartOurs(follower, $"""
            server 127.127.1.0 minpoll 4
            fudge 127.127.1.0 stratum 9
            nts cookie {keys}
            nts rotate 0
            nts enable
            """);
        Assert.True(NetworkNamespace.Await(() => Broadcasting.Log(follower).Contains("NTS: serving NTS-authenticated NTP only", StringComparison.Ordinal), Short), Broadcasting.Log(follower) + server.Output);

        client.Hosts("127.0.0.1 localhost\n198.18.0.1 ntp.test\n");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Daemon ours = Broadcasting.StartOurs(client, $"server ntp.test iburst nts minpoll 4 maxpoll 4\nnts ca {pki.CaFile}\n");
        (TimeSpan took, string peers) = Broadcasting.AwaitSystemPeer(client, "198.18.1.1", clock, ours);
        Assert.Matches(new Regex(@"^\*198\.18\.1\.1\s+\S+\s+10 u ", RegexOptions.Multiline), peers);
        Assert.Contains("NTS-KE with ntp.test: AEAD 15, 8 cookies", Broadcasting.Log(client), StringComparison.Ordinal);

        // The front rotates; the follower reads the new key from the changed file, without a restart or a signal.
        string? key = null;
        Assert.True(NetworkNamespace.Await(() => (key = Regex.Match(Broadcasting.Log(front), @"NTS: cookie key rotated, now ([0-9a-f]{8})") is { Success: true } m ? m.Groups[1].Value : null) is not null, TimeSpan.FromSeconds(40)), Broadcasting.Log(front));
        Assert.True(NetworkNamespace.Await(() => Broadcasting.Log(follower).Contains($"(the file changed): 1 new, current {key}", StringComparison.Ordinal), Short), Broadcasting.Log(follower));

        // chronyd, started after the rotation, gets its cookies from the front under the new key, and the follower opens them.
        string socket = Path.Combine(client.Directory, "chronyd.sock");
        string chrony = client.WriteFile("chrony.conf", $"server ntp.test iburst nts minpoll 4 maxpoll 4\nntstrustedcerts {pki.CaFile}\nport 0\nbindcmdaddress {socket}\npidfile {client.Directory}/chronyd.pid\n");
        Daemon chronyd = client.Start(Sandbox.Chronyd, "-d", "-x", "-u", "root", "-f", chrony);
        CommandResult sources = client.RunUntil(r => r.Stdout.Contains("^* 198.18.1.1", StringComparison.Ordinal), TimeSpan.FromSeconds(60), Sandbox.Chronyc, "-h", socket, "-n", "sources");
        Assert.True(sources.Stdout.Contains("^* 198.18.1.1", StringComparison.Ordinal), sources + chronyd.Output + Broadcasting.Log(follower));
        CommandResult auth = client.Run(Short, Sandbox.Chronyc, "-h", socket, "-n", "authdata");
        Match row = Regex.Match(auth.Stdout, @"^198\.18\.1\.1\s+NTS\s+\d+\s+15\s+256\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", RegexOptions.Multiline);
        Assert.True(row.Success, auth.ToString());
        Assert.Equal("0", row.Groups[2].Value);

        // Our client, whose first cookies were sealed before the rotation, is still synchronized to the follower.
        CommandResult after = client.Run(Short, Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        Assert.Contains("*198.18.1.1 ", after.Stdout, StringComparison.Ordinal);
        Figures.Record($"NTS fleet: NTS-KE at the front (nts ntpserver 198.18.1.1, nts rotate 15), NTP at a follower without a certificate (nts rotate 0): our client's system peer after {took.TotalSeconds:0.0} s; the follower read rotated key {key} from the file; chronyd started after it: ^* 198.18.1.1, authdata {Regex.Replace(row.Value, @"\s+", " ")}");
        Assert.False(leader.Process.HasExited || server.Process.HasExited, leader.Output + server.Output);
    }
}
