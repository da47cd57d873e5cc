using System.Net;
using Meridian.Config;
using Meridian.Engine.Nts;
using Meridian.Host;
using Meridian.Host.Tests.Nts;

namespace Meridian.Daemon.Tests.Nts;

/// <summary>
/// A fleet sharing one cookie key file: a follower (<c>nts rotate 0</c>) picks up the leader's new keys from the
/// loop's tick and on SIGHUP, refuses a bad file keeping its keys, and two rotating servers do not overwrite each other.
/// </summary>
public sealed class NtsFleetTests(NtsKeCertificates pki) : IClassFixture<NtsKeCertificates>
{
    private static readonly DateTime Now = DateTime.UtcNow;

    [Fact]
    public void A_follower_with_rotate_0_opens_cookies_of_a_key_the_leader_made_later_without_a_restart()
    {
        string file = KeyFile();
        var log = new StringWriter();
        using NtsServer leader = NtsServer.Start(Leader(file), [IPAddress.Loopback], 0, Log.ToWriter("ntpd", TextWriter.Null));
        using NtsServer follower = NtsServer.Start(Follower(file), [], 0, Log.ToWriter("ntpd", log));
        Assert.Empty(follower.LocalEndPoints);
        Assert.Null(follower.RotationPeriod);

        leader.Tick(Now.AddDays(1.5));
        byte[] cookie = Seal(leader.Keys);
        Assert.Equal(CookieStatus.UnknownKey, follower.Keys.Open(cookie, out _));

        follower.Tick(Now.AddDays(1.5));
        Assert.Equal(CookieStatus.Opened, follower.Keys.Open(cookie, out _));
        Assert.Equal(leader.Keys.Current.Id, follower.Keys.Current.Id);
        Assert.Contains($"NTS: cookie keys read from {file} (the file changed): 1 new, current {leader.Keys.Current.Id:x8}, 2 held", log.ToString(), StringComparison.Ordinal);

        // The follower never rotates, however old its key, and never writes the file.
        string text = File.ReadAllText(file);
        follower.Tick(Now.AddDays(30));
        Assert.Equal(leader.Keys.Current.Id, follower.Keys.Current.Id);
        Assert.Equal(text, File.ReadAllText(file));
    }

    [Fact]
    public void Sighup_reads_the_file_and_a_bad_one_is_refused_with_its_line_and_column_and_the_keys_stay()
    {
        string file = KeyFile();
        var log = new StringWriter();
        using NtsServer leader = NtsServer.Start(Leader(file), [IPAddress.Loopback], 0, Log.ToWriter("ntpd", TextWriter.Null));
        using NtsServer follower = NtsServer.Start(Follower(file), [], 0, Log.ToWriter("ntpd", log));
        byte[] old = Seal(leader.Keys);

        File.WriteAllText(file, File.ReadAllText(file) + "key 1234 2026-12-02T00:00:00Z 00\n");
        follower.Reload();
        Assert.Contains($"NTS: cookie key file refused (SIGHUP): {file}:4:5: the key id is 8 hex digits, not '1234'; the 1 key(s) in use are kept", log.ToString(), StringComparison.Ordinal);
        Assert.Equal(CookieStatus.Opened, follower.Keys.Open(old, out _));

        leader.Tick(Now.AddDays(2));
        follower.Reload();
        Assert.Equal(CookieStatus.Opened, follower.Keys.Open(Seal(leader.Keys), out _));
        Assert.Equal(CookieStatus.Opened, follower.Keys.Open(old, out _));
    }

    [Fact]
    public void A_server_whose_peer_rotated_first_does_not_rotate_and_two_that_rotated_at_once_merge()
    {
        string file = KeyFile();
        using NtsServer a = NtsServer.Start(Leader(file), [IPAddress.Loopback], 0, Log.ToWriter("ntpd", TextWriter.Null));
        using NtsServer b = NtsServer.Start(Leader(file), [IPAddress.Loopback], 0, Log.ToWriter("ntpd", TextWriter.Null));

        // a rotates first; b reads a's file before its own rotation falls due, so it keeps a's key.
        a.Tick(Now.AddDays(1.5));
        b.Tick(Now.AddDays(1.5));
        Assert.Equal(a.Keys.Current.Id, b.Keys.Current.Id);
        Assert.Equal(2, b.Keys.Keys.Count);

        // Both rotate before either sees the other's file: b writes, then a (which did not see b's) overwrites it.
        string before = File.ReadAllText(file);
        b.Tick(Now.AddDays(3));
        File.WriteAllText(file, before);
        a.Tick(Now.AddDays(3));
        Assert.NotEqual(a.Keys.Current.Id, b.Keys.Current.Id);
        byte[] fromA = Seal(a.Keys), fromB = Seal(b.Keys);

        // b sees that the file lacks its key and writes the union back; a reads it; they agree and write no more.
        b.Tick(Now.AddDays(3));
        a.Tick(Now.AddDays(3));
        string merged = File.ReadAllText(file);
        Assert.Equal(merged, a.Keys.Format());
        Assert.Equal(merged, b.Keys.Format());
        Assert.Equal(4, a.Keys.Keys.Count);
        Assert.Equal(CookieStatus.Opened, a.Keys.Open(fromB, out _));
        Assert.Equal(CookieStatus.Opened, b.Keys.Open(fromA, out _));
        a.Tick(Now.AddDays(3));
        b.Tick(Now.AddDays(3));
        Assert.Equal(merged, File.ReadAllText(file));
    }

    [Fact]
    public void A_follower_without_the_file_does_not_start_and_says_why()
    {
        string file = KeyFile();
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => NtsServer.Start(Follower(file), [], 0, Log.ToWriter("ntpd", TextWriter.Null)));
        Assert.Equal($"NTS: 'nts rotate 0' takes the cookie keys from {file}, which does not exist (the fleet's rotating server writes it; copy it here, or start that one first)", e.Message);
    }

    [Fact]
    public void The_NTS_KE_response_names_the_configured_NTP_server_and_port()
    {
        string file = KeyFile();
        using NtsServer front = NtsServer.Start(Leader(file) with { NtpServer = "2001:db8::7", NtpPort = 10123 }, [IPAddress.Loopback], 0, Log.ToWriter("ntpd", TextWriter.Null));
        byte[] request = new Meridian.Protocol.Nts.NtsKeRequest { NextProtocols = [0], AeadAlgorithms = [15] }.Encode();
        byte[] answer = front.Service.Answer(request, (_, _, _, length) => new byte[length]);
        Assert.True(Meridian.Protocol.Nts.NtsKeResponse.TryParse(answer, out Meridian.Protocol.Nts.NtsKeResponse? response).IsOk);
        Assert.Equal(("2001:db8::7", (ushort?)10123), (response!.Server, response.Port));
    }

    private string KeyFile() => Path.Combine(pki.Directory, $"fleet-keys-{Guid.NewGuid():N}");

    private NtsConfig Leader(string file) => new() { Enabled = true, Certificate = pki.CertFile("ec"), Key = pki.KeyFile("ec"), CookieKeys = file };

    private static NtsConfig Follower(string file) => new() { Enabled = true, CookieKeys = file, RotateSeconds = 0 };

    private static byte[] Seal(ServerCookieKeys keys)
    {
        byte[] cookie = new byte[ServerCookieKeys.CookieLength(NtsAeadId.AesSivCmac256)!.Value];
        keys.Seal(NtsAeadId.AesSivCmac256, new byte[32], new byte[32], cookie);
        return cookie;
    }
}
