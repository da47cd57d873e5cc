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
}
