using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Meridian.Engine;
using Meridian.Engine.Nts;
using Meridian.Host.Nts;
using Meridian.Host.Tests.Nts;
using Meridian.Protocol;
using Meridian.Protocol.Nts;

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
        Daemon ours = StartOurNtsServer(ns, pki);
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
        // NTS-KE on a port of its own (chrony's ntsport), named as NTPsec does (server HOST:PORT nts), with the CA and
        // the AEAD on the server line instead of the global nts lines.
        Daemon chronyd = StartChronyNtsServer(upstream, pki, ntsPort: 4461);
        downstream.Hosts("127.0.0.1 localhost\n198.18.0.1 ntp.test\n");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Daemon ours = Broadcasting.StartOurs(downstream, $"""
            server ntp.test:4461 iburst nts ca {pki.CaFile} aead AES_SIV_CMAC_256 minpoll 4 maxpoll 4
            """);

        (TimeSpan took, string peers) = Broadcasting.AwaitSystemPeer(downstream, "198.18.0.1", clock, ours);
        Assert.Matches(new Regex(@"^\*198\.18\.0\.1\s+\S+\s+3 [1-8] ", RegexOptions.Multiline), peers);
        string log = Broadcasting.Log(downstream);
        Assert.Matches(new Regex(@"NTS-KE with ntp\.test: AEAD 15, 8 cookies"), log);
        Figures.Record($"our client (server ntp.test:4461 nts ca FILE aead AES_SIV_CMAC_256) -> chronyd's NTS server (ntsport 4461): NTS-KE AEAD 15 with 8 cookies, system peer after {took.TotalSeconds:0.0} s; {peers.Split('\n').First(l => l.StartsWith('*'))}");
        Assert.False(chronyd.Process.HasExited, chronyd.Output);
    }

    [InteropFact]
    public void NTPsecs_ntpd_synchronizes_to_our_NTS_server()
    {
        using var pki = new NtsKeCertificates();
        using var upstream = new NetworkNamespace();
        using var downstream = new NetworkNamespace();
        upstream.LinkTo(downstream, "198.18.0.1", "198.18.0.2");
        Daemon ours = StartOurNtsServer(upstream, pki, "rsa");
        downstream.Hosts("127.0.0.1 localhost\n198.18.0.1 ntp.test\n");
        Daemon ntpsec = StartNtpsecNtsClient(downstream, pki);

        // NTPsec's ntpq marks an NTS association with the cookies it holds in the t column's place: no 'u' of plain
        // unicast. Awaited together with the selection: between a reply spending a cookie and NTPsec's next poll, a
        // loaded run once showed the row as 'u'.
        var selectedWithCookies = new Regex(@"^\*198\.18\.0\.1\s+\S+\s+11 [1-8] ", RegexOptions.Multiline);
        CommandResult theirs = downstream.RunUntil(r => selectedWithCookies.IsMatch(r.Stdout), TimeSpan.FromSeconds(90), "/usr/bin/ntpq", "-n", "-p", "127.0.0.1");
        Assert.True(selectedWithCookies.IsMatch(theirs.Stdout), theirs + ntpsec.Output + Broadcasting.Log(upstream));
        string row = theirs.Stdout.Split('\n').First(l => l.StartsWith("*198.18.0.1", StringComparison.Ordinal));
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
        // NTS must show is that its replies authenticate: at stratum 4 in the reach register (only authentic replies
        // count), and at least three of the iburst's replies authenticated.
        AwaitAuthenticatedReplies(downstream, 3);
        CommandResult peers = downstream.RunUntil(r => Regex.IsMatch(r.Stdout, @"^ 198\.18\.0\.1\s+198\.18\.1\.1\s+4 [1-8]\s+\S+\s+16\s+[1-7][0-7]*\s", RegexOptions.Multiline), TimeSpan.FromSeconds(90), Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        Assert.Matches(new Regex(@"^ 198\.18\.0\.1\s+198\.18\.1\.1\s+4 [1-8]\s+\S+\s+16\s+[1-7][0-7]*\s", RegexOptions.Multiline), peers.Stdout + Broadcasting.Log(downstream));
        TimeSpan took = clock.Elapsed;
        CommandResult rv = downstream.Run(Short, Sandbox.Out("ntpq"), "-c", "rv &1 leap,stratum,reach", "127.0.0.1");
        Assert.Contains("leap=11", rv.Stdout, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"NTS-KE with ntp\.test: AEAD 15, 8 cookies"), Broadcasting.Log(downstream));
        Figures.Record($"our client (server ntp.test nts) -> NTPsec's NTS server (disable ntp, so leap 3): NTS-KE AEAD 15 with 8 cookies, three replies authenticated after {took.TotalSeconds:0.0} s; {peers.Stdout.Split('\n').First(l => l.StartsWith(" 198", StringComparison.Ordinal)).Trim()}");
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
        Daemon server = StartOurNtsServer(upstream, pki);
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
    private static Daemon StartChronyNtsServer(NetworkNamespace ns, NtsKeCertificates pki, int ntsPort = 4460) => ns.Start(Sandbox.Chronyd, "-d", "-x", "-u", "root", "-f", ns.WriteFile("chrony.conf", $"""
        local stratum 3
        allow
        ntsport {ntsPort}
        ntsserverkey {pki.KeyFile("ec")}
        ntsservercert {pki.CertFile("ec")}
        bindcmdaddress /
        cmdport 0
        pidfile {ns.Directory}/chronyd.pid
        """));

    /// <summary>Our NTS server with the test certificate for ntp.test, upstream at 198.18.0.1.</summary>
    private static Daemon StartOurNtsServer(NetworkNamespace ns, NtsKeCertificates pki, string certificate = "ec") => Broadcasting.StartOurs(ns, $"""
        server 127.127.1.0 minpoll 4
        fudge 127.127.1.0 stratum 10
        nts cert {pki.CertFile(certificate)}
        nts key {pki.KeyFile(certificate)}
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

    [InteropFact]
    public void Our_client_refuses_an_expired_certificate_unless_nocerttimecheck_and_then_says_it_accepted_one()
    {
        using var pki = new NtsKeCertificates();
        using var upstream = new NetworkNamespace();
        using var strict = new NetworkNamespace();
        using var lenient = new NetworkNamespace();
        upstream.LinkTo(strict, "198.18.0.1", "198.18.0.2");
        upstream.LinkTo(lenient, "198.18.1.1", "198.18.1.2");
        Daemon server = StartOurNtsServer(upstream, pki, "expired");
        strict.Hosts("127.0.0.1 localhost\n198.18.0.1 ntp.test\n");
        Daemon a = Broadcasting.StartOurs(strict, $"server ntp.test iburst nts minpoll 4\nnts ca {pki.CaFile}\n");
        // A machine without a battery-backed clock: the dates are not checked until the clock has been updated 3 times.
        lenient.Hosts("127.0.0.1 localhost\n198.18.1.1 ntp.test\n");
        Daemon b = Broadcasting.StartOurs(lenient, $"server ntp.test iburst nts minpoll 4 maxpoll 4\nnts ca {pki.CaFile}\nnts nocerttimecheck 3\n");

        Assert.True(NetworkNamespace.Await(() => Broadcasting.Log(strict).Contains("NTS-KE with ntp.test failed (Expired: ", StringComparison.Ordinal), Short), Broadcasting.Log(strict) + a.Output);
        Assert.Matches(new Regex(@"NTS-KE with ntp\.test failed \(Expired: certificate ""CN=ntp\.test expired"" expired \S+ \S+\); trying again in 16 s"), Broadcasting.Log(strict));
        CommandResult refused = strict.Run(Short, Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        Assert.Matches(new Regex(@"^ 198\.18\.0\.1\s+\S+\s+16 u\s+\S+\s+\d+\s+0\s", RegexOptions.Multiline), refused.Stdout);

        // The lenient client: keys and cookies, authenticated replies (three of them, and the reach register), and the
        // warning that an expired certificate was let through.
        AwaitAuthenticatedReplies(lenient, 3);
        CommandResult peers = lenient.RunUntil(r => Regex.IsMatch(r.Stdout, @"^.198\.18\.1\.1\s+\S+\s+\d+ [1-8]\s+\S+\s+16\s+[1-7][0-7]*\s", RegexOptions.Multiline), TimeSpan.FromSeconds(60), Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        string log = Broadcasting.Log(lenient);
        Assert.Matches(new Regex(@"^.198\.18\.1\.1\s+\S+\s+\d+ [1-8]\s+\S+\s+16\s+[1-7][0-7]*\s", RegexOptions.Multiline), peers.Stdout + log + b.Output);
        Assert.Contains("nts nocerttimecheck 3", log, StringComparison.Ordinal);
        string warning = log.Split('\n').First(l => l.Contains("certificate accepted outside its validity dates", StringComparison.Ordinal));
        Assert.Contains("NTS-KE with ntp.test: certificate accepted outside its validity dates (nts nocerttimecheck 3, 0 clock update(s) so far) (Expired: certificate \"CN=ntp.test expired\" expired", warning, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"NTS-KE with ntp\.test: AEAD 15, 8 cookies"), log);
        Assert.DoesNotContain("failed (Expired", log, StringComparison.Ordinal);
        string failure = Broadcasting.Log(strict).Split('\n').First(l => l.Contains("failed (Expired", StringComparison.Ordinal));
        Figures.Record($"NTS expired certificate: {failure[failure.IndexOf("NTS-KE", StringComparison.Ordinal)..].Trim()}; with nts nocerttimecheck 3: {warning[warning.IndexOf("NTS-KE", StringComparison.Ordinal)..].Trim()}");
        Assert.False(server.Process.HasExited, server.Output);
    }

    [InteropFact]
    public void Noval_accepts_a_certificate_for_another_name_and_warns_that_it_is_insecure()
    {
        using var pki = new NtsKeCertificates();
        using var upstream = new NetworkNamespace();
        using var downstream = new NetworkNamespace();
        upstream.LinkTo(downstream, "198.18.0.1", "198.18.0.2");
        Daemon server = StartOurNtsServer(upstream, pki);
        // The certificate names ntp.test; the client asks for other.test, which its check would refuse.
        downstream.Hosts("127.0.0.1 localhost\n198.18.0.1 other.test\n");
        string config = $"server other.test iburst nts noval minpoll 4 maxpoll 4\nnts ca {pki.CaFile}\n";
        CommandResult test = downstream.Run(Short, Sandbox.Out("ntpd"), "--configtest", "-c", downstream.WriteFile("configtest.conf", config));
        Assert.Equal(0, test.ExitCode);
        Assert.Contains(":1:30: warning: noval: the NTS-KE server's certificate is not validated, any certificate for any name is accepted; this is insecure", test.Stdout + test.Stderr, StringComparison.Ordinal);
        Daemon ours = Broadcasting.StartOurs(downstream, config);

        AwaitAuthenticatedReplies(downstream, 3);
        CommandResult peers = downstream.RunUntil(r => Regex.IsMatch(r.Stdout, @"^.198\.18\.0\.1\s+\S+\s+\d+ [1-8]\s+\S+\s+16\s+[1-7][0-7]*\s", RegexOptions.Multiline), TimeSpan.FromSeconds(60), Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        string log = Broadcasting.Log(downstream);
        Assert.Matches(new Regex(@"^.198\.18\.0\.1\s+\S+\s+\d+ [1-8]\s+\S+\s+16\s+[1-7][0-7]*\s", RegexOptions.Multiline), peers.Stdout + log + ours.Output);
        Assert.Contains("warning: noval: the NTS-KE server's certificate is not validated", log, StringComparison.Ordinal);
        string warning = log.Split('\n').First(l => l.Contains("certificate not validated (noval)", StringComparison.Ordinal));
        Assert.Contains("NTS-KE with other.test: certificate not validated (noval), insecure; the check would have refused it (NameMismatch: certificate \"CN=ntp.test EC\" is not for other.test", warning, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"NTS-KE with other\.test: AEAD 15, 8 cookies"), log);
        Figures.Record($"NTS noval: {warning[warning.IndexOf("NTS-KE", StringComparison.Ordinal)..].Trim()}; {peers.Stdout.Split('\n').First(l => l.Contains("198.18.0.1", StringComparison.Ordinal)).Trim()}");
        Assert.False(server.Process.HasExited, server.Output);
    }

    [InteropFact]
    public void A_forged_cookie_gets_an_NTS_NAK_with_the_Unique_Identifier_and_no_time_and_is_counted()
    {
        using var pki = new NtsKeCertificates();
        using var ns = StartNtsServer(pki, out Daemon server);

        // Keys of our own and a cookie of the right length (AES-SIV-CMAC-256's, 104 octets) of random octets: no
        // master key of the server opens it.
        int cookieLength = ServerCookieKeys.CookieLength(NtsAeadId.AesSivCmac256)!.Value;
        using NtsClientState forger = NtsClientState.FromKeyExchange(NtsAeadId.AesSivCmac256, RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32), [RandomNumberGenerator.GetBytes(cookieLength)]);
        byte[] request = Request(forger);
        byte[] reply = NamespaceThread.Run(ns, Short, () => Exchange(request));

        AssertNak(request, reply);
        Assert.Equal(NtsReplyCheck.Nak, forger.CheckReply(reply));
        AssertCounted(ns, "1 NTP requests with a cookie that did not open (NAK sent)");
        Figures.Record($"NTS forged cookie ({cookieLength} random octets) -> our NTS server: NTSN kiss, stratum 0, Unique Identifier echoed, {reply.Length} octets; counted: {RefusalLine(ns)}");
        Assert.False(server.Process.HasExited, server.Output);
    }

    [InteropFact]
    public void A_tampered_authenticator_gets_an_NTS_NAK_and_the_untampered_request_after_it_is_answered()
    {
        using var pki = new NtsKeCertificates();
        using var ns = StartNtsServer(pki, out Daemon server);
        // The server follows its local clock first, so that its answer carries its time at its stratum.
        Assert.True(NetworkNamespace.Await(() => Broadcasting.Stratum(ns) == 11, TimeSpan.FromSeconds(90)), Broadcasting.Log(ns));

        (byte[] tampered, byte[] nak, NtsReplyCheck nakCheck, byte[] good, byte[] answer, NtsReplyCheck answerCheck, int cookies) = NamespaceThread.Run(ns, Short, () =>
        {
            // A real NTS-KE with the daemon: its cookies and the keys from the TLS exporter (RFC 8915 §4.3).
            // A NAK makes a client re-key, so the untampered request comes from a second state with the other cookies.
            (NtsClientState first, NtsClientState state) = KeyExchange(pki);
            using NtsClientState tamperer = first;
            using NtsClientState honest = state;
            byte[] altered = Request(tamperer);
            altered[^1] ^= 0x01; // the last octet is in the authenticator's ciphertext (its tag, as the plaintext is empty)
            byte[] refused = Exchange(altered);
            NtsReplyCheck refusedCheck = tamperer.CheckReply(refused);
            byte[] second = Request(state);
            byte[] answered = Exchange(second);
            return (altered, refused, refusedCheck, second, answered, state.CheckReply(answered), state.CookieCount);
        });

        AssertNak(tampered, nak);
        Assert.Equal(NtsReplyCheck.Nak, nakCheck);
        Assert.True(NtpHeader.TryRead(answer, out NtpHeader header), Convert.ToHexString(answer));
        Assert.False(NtsNak.IsNak(header));
        Assert.Equal(NtsReplyCheck.Ok, answerCheck);
        Assert.Equal(NtpMode.Server, header.Mode);
        Assert.Equal(11, header.Stratum);
        Assert.Equal(NtpHeader.TryRead(good, out NtpHeader sent) ? sent.TransmitTimestamp : default, header.OriginTimestamp);
        Assert.NotEqual(header.OriginTimestamp, header.TransmitTimestamp);
        Assert.Equal(8, cookies); // seven cookies, one spent, and the reply's fresh ones back to eight
        AssertCounted(ns, "1 NTP requests whose authenticator failed (NAK sent)");
        Figures.Record($"NTS tampered authenticator -> our NTS server: NTSN kiss; the untampered request after it: stratum {header.Stratum}, authenticated, jar back to {cookies} cookies; counted: {RefusalLine(ns)}");
        Assert.False(server.Process.HasExited, server.Output);
    }

    [InteropFact]
    public void A_TLS_client_without_ALPN_ntske_is_refused_by_our_NTS_KE_server_and_counted()
    {
        using var pki = new NtsKeCertificates();
        using var ns = StartNtsServer(pki, out Daemon server);

        // TLS 1.3 with ALPN http/1.1, then with no ALPN at all: a handshake alert, and never an NTS-KE record.
        foreach (string alpn in new[] { "-alpn http/1.1 ", string.Empty })
        {
            CommandResult client = ns.Run(Short, "/bin/sh", "-c", $"/usr/bin/openssl s_client -connect 127.0.0.1:4460 -servername ntp.test -tls1_3 {alpn}-CAfile {pki.CaFile} </dev/null");
            string said = client.Stdout + client.Stderr;
            Assert.NotEqual(0, client.ExitCode);
            Assert.Matches(new Regex("no application protocol|no_application_protocol", RegexOptions.IgnoreCase), said);
            Assert.DoesNotContain("ALPN protocol: ntske/1", said, StringComparison.Ordinal);
        }

        AssertCounted(ns, "NTS-KE connections refused (NoApplicationProtocol)");
        // The same server still serves a client that offers ntske/1.
        CommandResult good = ns.Run(Short, "/bin/sh", "-c", $"/usr/bin/openssl s_client -connect 127.0.0.1:4460 -servername ntp.test -tls1_3 -alpn ntske/1 -CAfile {pki.CaFile} </dev/null");
        Assert.Contains("ALPN protocol: ntske/1", good.Stdout, StringComparison.Ordinal);
        Figures.Record($"NTS-KE wrong ALPN (openssl s_client -tls1_3 -alpn http/1.1, and no ALPN) -> our NTS-KE server: no_application_protocol alert; counted: {RefusalLine(ns)}");
        Assert.False(server.Process.HasExited, server.Output);
    }

    /// <summary>Our ntpd serving NTS in a namespace of its own, its log saying it listens.</summary>
    private static NetworkNamespace StartNtsServer(NtsKeCertificates pki, out Daemon server)
    {
        var ns = new NetworkNamespace();
        ns.Hosts("127.0.0.1 localhost ntp.test\n");
        server = StartOurNtsServer(ns, pki);
        Assert.True(NetworkNamespace.Await(() => Broadcasting.Log(ns).Contains("NTS-KE: serving TLS 1.3", StringComparison.Ordinal), Short), Broadcasting.Log(ns) + server.Output);
        return ns;
    }

    /// <summary>
    /// An NTS-KE with the daemon on 127.0.0.1 (in the caller's namespace) and the exported keys: one state with the
    /// first cookie, one with the seven others.
    /// </summary>
    private static (NtsClientState First, NtsClientState Others) KeyExchange(NtsKeCertificates pki)
    {
        using NtsKeClientConnection connection = NtsKeClient.Connect(new IPEndPoint(IPAddress.Loopback, NtsKeTls.DefaultPort), "ntp.test", new NtsKeClientOptions { CaFile = pki.CaFile, Timeout = Short });
        byte[] octets = connection.Exchange(new NtsKeRequest().Encode(), r => NtsKeRecordReader.Frame(r, NtsKeLimits.Response.MaxMessageLength, out _) != NtsKeFrameStatus.Incomplete);
        Assert.True(NtsKeResponse.TryParse(octets, out NtsKeResponse? response).IsOk && response is not null, Convert.ToHexString(octets));
        ushort aead = response.AeadAlgorithm!.Value;
        int length = NtsAead.KeyLength(aead)!.Value;
        byte[] c2s = connection.Session.ExportKey(NtsKe.ProtocolNtpv4, aead, false, length);
        byte[] s2c = connection.Session.ExportKey(NtsKe.ProtocolNtpv4, aead, true, length);
        Assert.Equal(8, response.Cookies.Count);
        return (NtsClientState.FromKeyExchange(aead, c2s, s2c, response.Cookies.Take(1)), NtsClientState.FromKeyExchange(aead, c2s, s2c, response.Cookies.Skip(1)));
    }

    /// <summary>A client request (mode 3, NTPv4, a transmit timestamp to be echoed) with the state's NTS fields.</summary>
    private static byte[] Request(NtsClientState state)
    {
        var buffer = new byte[NtsClientState.MaxRequestLength];
        new NtpHeader { Version = 4, Mode = NtpMode.Client, Poll = 4, TransmitTimestamp = new NtpTimestamp(BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8))) }.Write(buffer);
        int length = state.WriteRequestFields(buffer, NtpHeader.Size, CryptoRandomSource.Instance);
        return buffer[..length];
    }

    /// <summary>One request to the daemon's NTP port on 127.0.0.1 (in the caller's namespace) and its reply.</summary>
    private static byte[] Exchange(byte[] request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 5000 };
        socket.Connect(new IPEndPoint(IPAddress.Loopback, 123));
        socket.Send(request);
        var reply = new byte[2048];
        int n = socket.Receive(reply);
        return reply[..n];
    }

    /// <summary>RFC 8915 §5.7's NTS NAK: a kiss with code NTSN at stratum 0, the request's Unique Identifier, no time of the server's.</summary>
    private static void AssertNak(byte[] request, byte[] reply)
    {
        Assert.True(NtpHeader.TryRead(reply, out NtpHeader header), Convert.ToHexString(reply));
        Assert.True(NtpHeader.TryRead(request, out NtpHeader sent));
        Assert.Equal(0, header.Stratum);
        Assert.Equal(KissCode.Ntsn, header.ReferenceId);
        Assert.Equal("NTSN", System.Text.Encoding.ASCII.GetString(reply, 12, 4));
        Assert.True(NtsNak.IsNak(header));
        // The kiss echoes the request's transmit timestamp in all three: the server's clock is not in it.
        Assert.Equal(sent.TransmitTimestamp, header.OriginTimestamp);
        Assert.Equal(sent.TransmitTimestamp, header.ReceiveTimestamp);
        Assert.Equal(sent.TransmitTimestamp, header.TransmitTimestamp);
        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(request, out NtsFields asked));
        byte[] identifier = asked.UniqueIdentifier.ToArray();
        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(reply, out NtsFields answered));
        Assert.Equal(identifier, answered.UniqueIdentifier.ToArray());
        Assert.False(answered.HasAuthenticator);
    }

    /// <summary>The daemon counted the refusal: its log line, and the kisses in ntpq's sysstats.</summary>
    private static void AssertCounted(NetworkNamespace ns, string what)
    {
        Assert.True(NetworkNamespace.Await(() => RefusalLine(ns).Contains(what, StringComparison.Ordinal), Short), Broadcasting.Log(ns));
        if (what.Contains("NAK", StringComparison.Ordinal))
        {
            CommandResult stats = ns.Run(Short, Sandbox.Out("ntpq"), "-c", "sysstats", "127.0.0.1");
            Assert.Matches(new Regex(@"KoD responses:\s+1\s*$", RegexOptions.Multiline), stats.Stdout);
        }
    }

    /// <summary>Waits until our client in <paramref name="ns"/> has taken <paramref name="count"/> NTS replies that authenticated (NTPsec's <c>nts_client_recv_good</c>).</summary>
    private static void AwaitAuthenticatedReplies(NetworkNamespace ns, int count)
    {
        var good = new Regex(@"nts_client_recv_good=(\d+)");
        CommandResult rv = ns.RunUntil(r => good.Match(r.Stdout) is { Success: true } m && int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= count,
            TimeSpan.FromSeconds(60), Sandbox.Out("ntpq"), "-c", "rv 0 nts_client_recv_good", "127.0.0.1");
        Match match = good.Match(rv.Stdout);
        Assert.True(match.Success && int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= count, rv + Broadcasting.Log(ns));
    }

    private static string RefusalLine(NetworkNamespace ns)
    {
        string line = Broadcasting.Log(ns).Split('\n').FirstOrDefault(l => l.Contains("NTS refused: ", StringComparison.Ordinal)) ?? string.Empty;
        int at = line.IndexOf("NTS refused: ", StringComparison.Ordinal);
        return at < 0 ? string.Empty : line[at..].Trim();
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
        Assert.Matches(new Regex(@"^\*198\.18\.1\.1\s+\S+\s+10 [1-8] ", RegexOptions.Multiline), peers);
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
