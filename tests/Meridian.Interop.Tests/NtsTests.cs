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
        Daemon chronyd = StartChronyNtsServer(upstream, pki);
        downstream.Hosts("127.0.0.1 localhost\n198.18.0.1 ntp.test\n");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Daemon ours = Broadcasting.StartOurs(downstream, $"""
            server ntp.test iburst nts minpoll 4 maxpoll 4
            nts ca {pki.CaFile}
            """);

        (TimeSpan took, string peers) = Broadcasting.AwaitSystemPeer(downstream, "198.18.0.1", clock, ours);
        Assert.Matches(new Regex(@"^\*198\.18\.0\.1\s+\S+\s+3 [1-8] ", RegexOptions.Multiline), peers);
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
        Daemon ntpsec = StartNtpsecNtsClient(downstream, pki);

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
        CommandResult peers = downstream.RunUntil(r => Regex.IsMatch(r.Stdout, @"^ 198\.18\.0\.1\s+198\.18\.1\.1\s+4 [1-8]\s+\S+\s+16\s+\d*7\s", RegexOptions.Multiline), TimeSpan.FromSeconds(90), Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        Assert.Matches(new Regex(@"^ 198\.18\.0\.1\s+198\.18\.1\.1\s+4 [1-8]\s+\S+\s+16\s+\d*7\s", RegexOptions.Multiline), peers.Stdout + Broadcasting.Log(downstream));
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

    /// <summary>NTPsec's ntpd as an NTS client of ntp.test (never touching the clock: <c>disable ntp</c>).</summary>
    private static Daemon StartNtpsecNtsClient(NetworkNamespace ns, NtsKeCertificates pki) => ns.Start("/usr/sbin/ntpd", "-n", "-c", ns.WriteFile("ntp.conf", $"""
        server ntp.test nts iburst minpoll 4 maxpoll 4
        nts ca {pki.CaFile}
        disable ntp
        unrestrict default noquery limited
        driftfile {ns.Directory}/drift
        """));

    /// <summary>chronyd serving NTS at stratum 3 with the test certificate for ntp.test.</summary>
    private static Daemon StartChronyNtsServer(NetworkNamespace ns, NtsKeCertificates pki) => ns.Start(Sandbox.Chronyd, "-d", "-x", "-u", "root", "-f", ns.WriteFile("chrony.conf", $"""
        local stratum 3
        allow
        ntsserverkey {pki.KeyFile("ec")}
        ntsservercert {pki.CertFile("ec")}
        bindcmdaddress /
        cmdport 0
        pidfile {ns.Directory}/chronyd.pid
        """));

    /// <summary>Our NTS server with the test certificate for ntp.test, upstream at 198.18.0.1.</summary>
    private static Daemon StartOurNtsServer(NetworkNamespace upstream, NtsKeCertificates pki) => Broadcasting.StartOurs(upstream, $"""
        server 127.127.1.0 minpoll 4
        fudge 127.127.1.0 stratum 10
        nts cert {pki.CertFile("ec")}
        nts key {pki.KeyFile("ec")}
        nts enable
        """);

    [InteropFact]
    public void Ntpq_shows_the_cookies_in_the_t_column_and_the_nts_variables_and_NTPsecs_ntpq_shows_the_same()
    {
        using var pki = new NtsKeCertificates();
        using var upstream = new NetworkNamespace();
        using var downstream = new NetworkNamespace();
        upstream.LinkTo(downstream, "198.18.0.1", "198.18.0.2");
        Daemon server = StartOurNtsServer(upstream, pki);
        downstream.Hosts("127.0.0.1 localhost\n198.18.0.1 ntp.test\n");
        Daemon ours = Broadcasting.StartOurs(downstream, $"server ntp.test iburst nts minpoll 4 maxpoll 4\nnts ca {pki.CaFile}\n");

        var row = new Regex(@"^\*198\.18\.0\.1\s+127\.127\.1\.0\s+11 ([0-9]) ", RegexOptions.Multiline);
        CommandResult mine = downstream.RunUntil(r => row.Match(r.Stdout) is { Success: true } m && m.Groups[1].Value == "8", Broadcasting.ToSynchronize, Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        Assert.True(row.Match(mine.Stdout) is { Success: true } m1 && m1.Groups[1].Value == "8", mine + Broadcasting.Log(downstream) + ours.Output);
        CommandResult theirs = downstream.Run(Short, "/usr/bin/ntpq", "-n", "-p", "127.0.0.1");
        Match m2 = row.Match(theirs.Stdout);
        Assert.True(m2.Success, theirs.ToString());
        Assert.Equal("8", m2.Groups[1].Value);

        CommandResult rv = downstream.Run(Short, Sandbox.Out("ntpq"), "-c", "rv &1", "127.0.0.1");
        string vars = rv.Stdout.Replace(",\n", ", ", StringComparison.Ordinal);
        Assert.Contains("ntscookies=8", vars, StringComparison.Ordinal);
        Assert.Contains("ntsaead=15", vars, StringComparison.Ordinal);
        Assert.Contains("ntskeserver=\"ntp.test\"", vars, StringComparison.Ordinal);
        Assert.Contains("ntsnaks=0", vars, StringComparison.Ordinal);
        Assert.Contains("ntskegood=1", vars, StringComparison.Ordinal);
        Assert.Contains("ntskebad=0", vars, StringComparison.Ordinal);

        // The server's side: NTPsec's ntsinfo names, asked by our ntpq and by NTPsec's.
        CommandResult info = upstream.Run(Short, Sandbox.Out("ntpq"), "-c", "ntsinfo", "127.0.0.1");
        Assert.Matches(new Regex(@"^NTS server recvs good:\s+[1-9]\d*$", RegexOptions.Multiline), info.Stdout);
        Assert.Matches(new Regex(@"^NTS KE serves good:\s+1$", RegexOptions.Multiline), info.Stdout);
        CommandResult theirInfo = upstream.Run(Short, "/usr/bin/ntpq", "-c", "ntsinfo", "127.0.0.1");
        Assert.Matches(new Regex(@"^NTS KE serves good:\s+1$", RegexOptions.Multiline), theirInfo.Stdout);
        Assert.DoesNotContain("Unknown variable", theirInfo.Stdout + theirInfo.Stderr, StringComparison.Ordinal);
        Figures.Record($"ntpq -pn, ours and NTPsec's, of our NTS client: {m2.Value.Trim()} (8 cookies in the t column); server ntsinfo: {Regex.Match(info.Stdout, "NTS server recvs good:.*").Value}");
        Assert.False(server.Process.HasExited, server.Output);
    }

    [InteropFact]
    public void Our_ntpq_shows_NTPsecs_NTS_association_with_its_cookies()
    {
        using var pki = new NtsKeCertificates();
        using var upstream = new NetworkNamespace();
        using var downstream = new NetworkNamespace();
        upstream.LinkTo(downstream, "198.18.0.1", "198.18.0.2");
        Daemon server = StartOurNtsServer(upstream, pki);
        downstream.Hosts("127.0.0.1 localhost\n198.18.0.1 ntp.test\n");
        Daemon ntpsec = StartNtpsecNtsClient(downstream, pki);

        var row = new Regex(@"^.198\.18\.0\.1\s+\S+\s+11 ([0-9u]) ", RegexOptions.Multiline);
        CommandResult theirs = downstream.RunUntil(r => row.Match(r.Stdout) is { Success: true } m && m.Groups[1].Value != "u", TimeSpan.FromSeconds(90), "/usr/bin/ntpq", "-n", "-p", "127.0.0.1");
        Match m1 = row.Match(theirs.Stdout);
        Assert.True(m1.Success && m1.Groups[1].Value != "u", theirs + ntpsec.Output);
        CommandResult mine = downstream.Run(Short, Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        Match m2 = row.Match(mine.Stdout);
        Assert.True(m2.Success, mine.ToString());
        Assert.InRange(m2.Groups[1].Value[0], '1', '8');
        Figures.Record($"our ntpq -pn of NTPsec's NTS association: {m2.Value.Trim()} (NTPsec's ntpq: {m1.Value.Trim()})");
        Assert.False(server.Process.HasExited, server.Output);
    }

    [InteropFact]
    public void Ntpdig_with_nts_gets_an_authenticated_time_from_our_server_and_chronyds_and_says_why_a_wrong_name_fails()
    {
        using var pki = new NtsKeCertificates();
        using var ourSide = new NetworkNamespace();
        using var chronySide = new NetworkNamespace();
        using var client = new NetworkNamespace();
        ourSide.LinkTo(client, "198.18.0.1", "198.18.0.2");
        Daemon server = StartOurNtsServer(ourSide, pki);
        Assert.True(NetworkNamespace.Await(() => Broadcasting.Log(ourSide).Contains("NTS-KE: serving TLS 1.3", StringComparison.Ordinal), Short), Broadcasting.Log(ourSide) + server.Output);
        Daemon chronyd = StartChronyNtsServer(chronySide, pki);
        client.Hosts("127.0.0.1 localhost\n198.18.0.1 ntp.test\n198.18.0.1 other.test\n");

        // Our server says stratum 11 only once its local clock is selected: wait for a line, not a fixed time.
        var line = new Regex(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \([+-]\d{4}\) [+-]\d+\.\d{6} \+/- \d+\.\d{6} ntp\.test 198\.18\.0\.1 s11 no-leap$", RegexOptions.Multiline);
        CommandResult ours = client.RunUntil(r => line.IsMatch(r.Stdout), TimeSpan.FromSeconds(60), Sandbox.Out("ntpdig"), "--nts", "--ca", pki.CaFile, "ntp.test");
        Assert.True(line.IsMatch(ours.Stdout), ours + Broadcasting.Log(ourSide));
        Assert.Equal(0, ours.ExitCode);
        Assert.Contains("NTS-KE with ntp.test: AEAD 15, 8 cookies", ours.Stderr, StringComparison.Ordinal);
        Assert.Contains("authenticated by NTS", ours.Stderr, StringComparison.Ordinal);

        // chronyd serves the same test certificate, for ntp.test, from a namespace of its own.
        using var viaChrony = new NetworkNamespace();
        chronySide.LinkTo(viaChrony, "198.18.2.1", "198.18.2.2");
        viaChrony.Hosts("127.0.0.1 localhost\n198.18.2.1 ntp.test\n");
        var chronyLine = new Regex(@" ntp\.test 198\.18\.2\.1 s3 no-leap$", RegexOptions.Multiline);
        CommandResult theirs = viaChrony.RunUntil(r => chronyLine.IsMatch(r.Stdout), TimeSpan.FromSeconds(30), Sandbox.Out("ntpdig"), "-N", "--ca", pki.CaFile, "ntp.test");
        Assert.True(chronyLine.IsMatch(theirs.Stdout), theirs + chronyd.Output);
        Assert.Contains("authenticated by NTS", theirs.Stderr, StringComparison.Ordinal);

        // A certificate for ntp.test asked for as other.test: refused before any NTP, with the reason.
        CommandResult wrong = client.Run(Short, Sandbox.Out("ntpdig"), "--nts", "--ca", pki.CaFile, "other.test");
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Equal("", wrong.Stdout);
        Assert.Contains("NTS-KE with other.test failed (NameMismatch", wrong.Stderr, StringComparison.Ordinal);
        // Without --ca the system's CAs are used, and the test CA is not one of them.
        CommandResult untrusted = client.Run(Short, Sandbox.Out("ntpdig"), "--nts", "ntp.test");
        Assert.Contains("NTS-KE with ntp.test failed (UnknownCa", untrusted.Stderr, StringComparison.Ordinal);
        Figures.Record($"ntpdig --nts: ours -> {ours.Stdout.Trim()}; chronyd -> {theirs.Stdout.Trim()}; wrong name -> {wrong.Stderr.Split('\n')[0].Trim()}");
        Assert.False(chronyd.Process.HasExited, chronyd.Output);
    }
}
