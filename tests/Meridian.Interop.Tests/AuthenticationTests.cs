using System.Text.RegularExpressions;

namespace Meridian.Interop.Tests;

/// <summary>Symmetric-key MACs against real peers: our client with chronyd's keys, NTPsec's ntpdig with our server.</summary>
public sealed class AuthenticationTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    [InteropTheory]
    [InlineData("MD5", "MD5", "HEX:6d6572696469616e2d6d6435")]
    [InlineData("SHA1", "SHA1", "HEX:00112233445566778899aabbccddeeff00112233")]
    [InlineData("AES128CMAC", "AES128", "HEX:00112233445566778899aabbccddeeff")]
    public void Our_client_authenticates_with_chronyd_and_a_wrong_key_is_rejected(string ourType, string chronyType, string chronyKey)
    {
        using var upstream = new NetworkNamespace();
        using var good = new NetworkNamespace();
        using var bad = new NetworkNamespace();
        upstream.LinkTo(good, "198.18.0.1", "198.18.0.2");
        upstream.LinkTo(bad, "198.18.1.1", "198.18.1.2");
        string keyfile = upstream.WriteFile("chrony.keys", $"7 {chronyType} {chronyKey}\n");
        string config = upstream.WriteFile("chrony.conf", $"""
            local stratum 3
            allow
            keyfile {keyfile}
            bindcmdaddress /
            cmdport 0
            pidfile {upstream.Directory}/chronyd.pid
            """);
        upstream.Start(Sandbox.Chronyd, "-d", "-x", "-u", "root", "-f", config);

        string secret = chronyKey["HEX:".Length..];
        string wrong = new string('e', secret.Length);
        Daemon ours = StartClient(good, "198.18.0.1", ourType, secret);
        StartClient(bad, "198.18.1.1", ourType, wrong);

        // ntpq's associations table: "yes yes ok" is configured, reachable, authentic.
        CommandResult authentic = good.RunUntil(r => Regex.IsMatch(r.Stdout, @"\s+yes\s+yes\s+ok\s"), Short, Sandbox.Out("ntpq"), "-n", "-c", "as", "127.0.0.1");
        Assert.Matches(new Regex(@"^\s+1\s+\d+\s+f\w{3}\s+yes\s+yes\s+ok\s", RegexOptions.Multiline), authentic.Stdout + ours.Output);
        CommandResult peers = good.RunUntil(r => r.Stdout.Contains("*198.18.0.1", StringComparison.Ordinal), Short, Sandbox.Out("ntpq"), "-n", "-p", "127.0.0.1");
        Assert.Contains("*198.18.0.1", peers.Stdout, StringComparison.Ordinal);

        // chronyd answers the wrong key with a crypto-NAK or not at all: after several requests (the iburst), the
        // association is still not reachable.
        CommandResult refused = bad.RunUntil(r => Regex.IsMatch(r.Stdout, @"^packets sent:\s+([4-9]|\d\d)", RegexOptions.Multiline), Short, Sandbox.Out("ntpq"), "-n", "-c", "as", "-c", "pstats &1", "127.0.0.1");
        Assert.Matches(new Regex(@"^\s+1\s+\d+\s+\w{4}\s+yes\s+no\s+bad\s", RegexOptions.Multiline), refused.Stdout);
        Assert.Matches(new Regex(@"^packets sent:\s+[1-9]", RegexOptions.Multiline), refused.Stdout);
    }

    [InteropTheory]
    [InlineData("MD5", "meridian-md5")]
    [InlineData("SHA1", "00112233445566778899aabbccddeeff00112233")]
    public void Our_client_authenticates_with_NTPsec_ntpd_and_a_wrong_key_is_rejected(string type, string secret)
    {
        using var upstream = new NetworkNamespace();
        using var good = new NetworkNamespace();
        using var bad = new NetworkNamespace();
        upstream.LinkTo(good, "198.18.0.1", "198.18.0.2");
        upstream.LinkTo(bad, "198.18.1.1", "198.18.1.2");
        string keys = upstream.WriteFile("ntp.keys", $"7 {type} {secret}\n");
        upstream.Start("/usr/sbin/ntpd", "-n", "-c", upstream.WriteFile("ntp.conf",
            $"keys {keys}\ntrustedkey 7\ndisable ntp\nunrestrict default noquery limited\ndriftfile {upstream.Directory}/drift\n"));

        Daemon ours = StartClient(good, "198.18.0.1", type, type == "SHA1" ? secret : Convert.ToHexStringLower(System.Text.Encoding.ASCII.GetBytes(secret)));
        StartClient(bad, "198.18.1.1", type, new string('e', 40));

        // NTPsec's daemon is unsynchronized here (disable ntp), but it answers, and signs its answers.
        CommandResult authentic = good.RunUntil(r => Regex.IsMatch(r.Stdout, @"\s+yes\s+yes\s+ok\s"), Short, Sandbox.Out("ntpq"), "-n", "-c", "as", "127.0.0.1");
        Assert.Matches(new Regex(@"^\s+1\s+\d+\s+\w{4}\s+yes\s+yes\s+ok\s", RegexOptions.Multiline), authentic.Stdout + ours.Output);
        CommandResult refused = bad.RunUntil(r => Regex.IsMatch(r.Stdout, @"^packets sent:\s+([4-9]|\d\d)", RegexOptions.Multiline), Short, Sandbox.Out("ntpq"), "-n", "-c", "as", "-c", "pstats &1", "127.0.0.1");
        Assert.Matches(new Regex(@"^\s+1\s+\d+\s+\w{4}\s+yes\s+no\s+bad\s", RegexOptions.Multiline), refused.Stdout);
    }

    private static Daemon StartClient(NetworkNamespace ns, string server, string type, string hexSecret)
    {
        string keys = ns.WriteFile("ntp.keys", $"7 {type} {hexSecret}\n");
        string config = ns.WriteFile("ntp.conf", $"server {server} iburst minpoll 4 key 7\nkeys {keys}\ntrustedkey 7\ndisable ntp\n");
        return ns.Start(Sandbox.Out("ntpd"), "-n", "-c", config);
    }

    [InteropFact]
    public void NTPsec_ntpdig_authenticates_with_our_server_and_notrust_refuses_the_rest()
    {
        using var server = new NetworkNamespace();
        using var client = new NetworkNamespace();
        server.LinkTo(client, "198.18.0.1", "198.18.0.2");
        string keys = server.WriteFile("ntp.keys", "1 MD5 meridian-md5\n2 SHA1 00112233445566778899aabbccddeeff00112233\n");
        Daemon ntpd = server.Start(Sandbox.Out("ntpd"), "-n", "-c", server.WriteFile("ntp.conf", $"""
            server 127.127.1.0
            fudge 127.127.1.0 stratum 10
            disable ntp
            keys {keys}
            trustedkey 1 2
            restrict default notrust kod
            """));
        server.RunUntil(r => r.Stdout.Contains(" s11 ", StringComparison.Ordinal), Short, "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");

        string clientKeys = client.WriteFile("ntp.keys", "1 MD5 meridian-md5\n2 SHA1 00112233445566778899aabbccddeeff00112233\n");
        string wrongKeys = client.WriteFile("wrong.keys", "1 MD5 not-the-key\n");
        CommandResult md5 = client.RunUntil(r => r.ExitCode == 0, Short, "/usr/bin/ntpdig", "-t", "2", "-a", "1", "-k", clientKeys, "198.18.0.1");
        CommandResult sha1 = client.Run(Short, "/usr/bin/ntpdig", "-t", "2", "-a", "2", "-k", clientKeys, "198.18.0.1");
        CommandResult unsigned = client.Run(Short, "/usr/bin/ntpdig", "-t", "2", "198.18.0.1");
        CommandResult wrong = client.Run(Short, "/usr/bin/ntpdig", "-t", "2", "-a", "1", "-k", wrongKeys, "198.18.0.1");
        CommandResult counters = server.Run(Short, Sandbox.Out("ntpq"), "-c", "sysstats", "-c", "authinfo", "127.0.0.1");

        Assert.True(md5.ExitCode == 0 && md5.Stdout.Contains(" s11 ", StringComparison.Ordinal), md5 + ntpd.Output);
        Assert.True(sha1.ExitCode == 0 && sha1.Stdout.Contains(" s11 ", StringComparison.Ordinal), sha1.ToString());
        Assert.DoesNotContain(" s11 ", unsigned.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(" s11 ", wrong.Stdout, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"^authentication failed:\s+[1-9]", RegexOptions.Multiline), counters.Stdout);
        Assert.Matches(new Regex(@"^restricted:\s+[1-9]", RegexOptions.Multiline), counters.Stdout);
        Assert.Matches(new Regex(@"^KoD responses:\s+[1-9]", RegexOptions.Multiline), counters.Stdout);
        Assert.Matches(new Regex(@"^encryptions:\s+[1-9]", RegexOptions.Multiline), counters.Stdout);
    }

    [InteropFact]
    public void Ntpkeygen_keys_authenticate_our_ntpdate_and_ntpdig_and_NTPsec_ntpdig()
    {
        using var server = new NetworkNamespace();
        using var client = new NetworkNamespace();
        server.LinkTo(client, "198.18.0.1", "198.18.0.2");
        CommandResult keygen = server.RunIn(server.Directory, Short, Sandbox.Out("ntpkeygen"), "-M");
        string keys = Path.Combine(server.Directory, "ntp.keys");
        Assert.True(keygen.ExitCode == 0 && File.Exists(keys), keygen.ToString());
        string target = Path.Combine(server.Directory, new FileInfo(keys).LinkTarget!);
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(target));
        }

        Assert.Matches(@"^# ntpkey_MD5key_\S+\.\d+\n# .+\n\n 1 MD5 \S{20}  # MD5 key\n", File.ReadAllText(target));

        server.Start(Sandbox.Out("ntpd"), "-n", "-c", server.WriteFile("ntp.conf", $"""
            server 127.127.1.0
            fudge 127.127.1.0 stratum 10
            disable ntp
            keys {keys}
            trustedkey 1 11
            restrict default notrust
            """));
        server.RunUntil(r => r.Stdout.Contains(" s11 ", StringComparison.Ordinal), Short, "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");
        string wrong = client.WriteFile("wrong.keys", "1 MD5 not-the-key\n");

        CommandResult ntpdate = client.Run(Short, Sandbox.Out("ntpdate"), "-q", "-a", "1", "-k", keys, "198.18.0.1");
        CommandResult ntpdig = client.Run(Short, Sandbox.Out("ntpdig"), "-t", "2", "-a", "11", "-k", keys, "198.18.0.1");
        CommandResult theirs = client.Run(Short, "/usr/bin/ntpdig", "-t", "2", "-a", "1", "-k", keys, "198.18.0.1");
        CommandResult unsigned = client.Run(Short, Sandbox.Out("ntpdate"), "-q", "198.18.0.1");
        CommandResult wrongKey = client.Run(Short, Sandbox.Out("ntpdig"), "-d", "-d", "-t", "2", "-a", "1", "-k", wrong, "198.18.0.1");

        Assert.True(ntpdate.ExitCode == 0, ntpdate.ToString());
        Assert.Contains("server 198.18.0.1, stratum 11,", ntpdate.Stdout, StringComparison.Ordinal);
        Assert.True(ntpdig.ExitCode == 0 && ntpdig.Stdout.Contains(" s11 ", StringComparison.Ordinal), ntpdig.ToString());
        Assert.True(theirs.ExitCode == 0 && theirs.Stdout.Contains(" s11 ", StringComparison.Ordinal), theirs.ToString());
        Assert.Contains("no server suitable for synchronization found", unsigned.Stdout + unsigned.Stderr, StringComparison.Ordinal);
        Assert.NotEqual(0, wrongKey.ExitCode);
        Assert.Contains("crypto-NAK", wrongKey.Stdout + wrongKey.Stderr, StringComparison.Ordinal);
    }
}
