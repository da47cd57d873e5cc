using System.Net;
using System.Net.Sockets;

namespace Meridian.Config.Tests;

/// <summary>
/// Every configuration printed in the seeds (shared/seeds, copied line by line into Seeds/; seed 004's, whose line
/// breaks were lost in the page, with them restored) parses without errors and means what the seed says.
/// </summary>
public sealed class SeedConfigTests
{
    private static NtpConfiguration Load(string name) => ConfigParser.ParseFile(Path.Combine(AppContext.BaseDirectory, "Seeds", name));

    public static TheoryData<string> AllSeeds() => new(Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Seeds"), "*.conf").Select(Path.GetFileName)!);

    [Theory]
    [MemberData(nameof(AllSeeds))]
    public void Every_seed_configuration_loads_without_errors(string name)
    {
        NtpConfiguration c = Load(name);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
    }

    [Fact]
    public void Seed000_multicast_server()
    {
        NtpConfiguration c = Load("seed000-server.conf");
        Assert.Equal("/var/lib/ntp/ntp.drift", c.DriftFile);
        Assert.Equal("/var/log/ntp.log", c.LogFile);
        Assert.Equal(["clockstats", "loopstats", "peerstats"], c.Statistics.Order());
        Assert.True(c.FileGens["loopstats"] is { File: "loopstats", Type: "day", Enable: true });
        BroadcastConfig broadcast = Assert.Single(c.Broadcasts);
        Assert.Equal(("224.0.1.1", 3, 4), (broadcast.Address, broadcast.MinPoll, broadcast.MaxPoll));
        Assert.Contains(c.Diagnostics, d => d.Severity == DiagnosticSeverity.Warning && d.Message.Contains("stray ','", StringComparison.Ordinal));
        AssociationConfig local = Assert.Single(c.Associations);
        Assert.Equal(new RefclockAddress(1, 1), local.Refclock);
        Assert.Equal(10, c.Fudges[new RefclockAddress(1, 1)].Stratum);
        Assert.Equal(5, c.Restrictions.Count);
        Assert.Equal((AddressFamily?)AddressFamily.InterNetwork, c.Restrictions[0].Family);
        Assert.Equal(RestrictFlags.Kod | RestrictFlags.NoTrap | RestrictFlags.NoModify, c.Restrictions[0].Flags);
        Assert.Equal(RestrictTarget.Default, c.Restrictions[1].Target);
        Assert.Equal((AddressFamily?)AddressFamily.InterNetworkV6, c.Restrictions[1].Family);
        // "restrict 192.168.0.0 mask 255.255.0.0 trust": read as no flag, with a warning.
        RestrictEntry subnet = c.Restrictions[4];
        Assert.Equal((IPAddress.Parse("192.168.0.0"), 16, RestrictFlags.None), (subnet.Address, subnet.MaskBits, subnet.Flags));
        Assert.Contains(c.Diagnostics, d => d.Severity == DiagnosticSeverity.Warning && d.Line == 42 && d.Message.Contains("'trust'", StringComparison.Ordinal));
        Assert.False(c.SystemFlags.Auth);
    }

    [Fact]
    public void Seed000_multicast_client()
    {
        NtpConfiguration c = Load("seed000-client.conf");
        Assert.Equal(0, c.Tinker.Panic);
        Assert.Equal((InterfaceAction.Listen, "eth0", null), c.InterfaceRules.Select(r => (r.Action, r.Target, r.Address)).Single());
        Assert.Equal([IPAddress.Parse("224.0.1.1")], c.MulticastClientGroups);
        Assert.False(c.SystemFlags.Auth);
        Assert.Equal(4, c.Restrictions.Count);
        Assert.Null(c.Restrictions[0].Family);
        Assert.Empty(c.Associations);
    }

    [Fact]
    public void Seed001_centos_server()
    {
        NtpConfiguration c = Load("seed001-server.conf");
        Assert.Equal(8, c.Associations.Count);
        Assert.Equal(5, c.Associations.Count(a => a.Prefer));
        Assert.Equal(2, c.Associations.Count(a => a.Address == "192.168.2.193"));
        Assert.Contains(c.Restrictions, r => r.Target == RestrictTarget.HostName && r.HostName == "ntp.ubuntu.com" && r.Flags == (RestrictFlags.NoModify | RestrictFlags.NoTrap | RestrictFlags.NoQuery));
        RestrictEntry lan = c.Restrictions.Single(r => r.Address?.Equals(IPAddress.Parse("192.168.2.0")) == true);
        Assert.Equal(24, lan.MaskBits);
        // fudge on a plain address, a missing includefile and a missing keys file: warnings, not errors.
        Assert.Contains(c.Diagnostics, d => d.Message.Contains("not a reference clock address", StringComparison.Ordinal));
        Assert.Contains(c.Diagnostics, d => d.Message.Contains("/etc/ntp/crypto/pw", StringComparison.Ordinal));
        Assert.Contains(c.Diagnostics, d => d.Message.Contains("keys file '/etc/ntp/keys'", StringComparison.Ordinal));
        Assert.Empty(c.Fudges);
    }

    [Fact]
    public void Seed001_lan_server_and_client_and_seed002()
    {
        NtpConfiguration server = Load("seed001-lan-server.conf");
        Assert.Equal([32, 24], server.Restrictions.Select(r => r.MaskBits));
        Assert.Equal("192.168.1.1", Assert.Single(Load("seed001-lan-client.conf").Associations).Address);
        NtpConfiguration seed2 = Load("seed002.conf");
        Assert.Equal(RestrictFlags.Kod | RestrictFlags.NoModify | RestrictFlags.NoTrap | RestrictFlags.NoPeer | RestrictFlags.NoQuery, seed2.Restrictions[0].Flags);
        Assert.Empty(seed2.Diagnostics);
    }

    [Fact]
    public void Seed003_slewalways_with_a_slash_comment()
    {
        NtpConfiguration c = Load("seed003-slew.conf");
        Assert.True(c.SlewAlways);
        Assert.All(c.Associations, a => Assert.Equal((4, 4), (a.MinPoll, a.MaxPoll)));
        Assert.True(c.Associations[0].Prefer);
        Assert.Contains("read as a comment", Assert.Single(c.Diagnostics).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Seed003_rhel_with_notrust_default()
    {
        NtpConfiguration c = Load("seed003-rhel.conf");
        Assert.Equal(9, c.Restrictions.Count);
        RestrictEntry everyone = c.Restrictions[^1];
        Assert.Equal((IPAddress.Parse("0.0.0.0"), 0, RestrictFlags.NoTrust), (everyone.Address, everyone.MaskBits, everyone.Flags));
        Assert.Equal(RestrictFlags.None, c.Restrictions[2].Flags);
        Assert.Equal(4, c.Associations.Count);
        Assert.True(c.Associations[0] is { Address: "time-nw.nist.gov", Prefer: true });
        Assert.Equal(10, c.Fudges[new RefclockAddress(1, 0)].Stratum);
        Assert.Equal("/var/lib/ntp/drift", c.DriftFile);
        Assert.Equal(5, c.Diagnostics.Count(d => d.Message.Contains("read as a comment", StringComparison.Ordinal)));
    }

    [Fact]
    public void Seed003_nmea_gps_with_pps_and_time2()
    {
        NtpConfiguration noselect = Load("seed003-gps-noselect.conf");
        Assert.True(Assert.Single(noselect.Associations).NoSelect);
        Assert.False(noselect.Fudges[new RefclockAddress(20, 0)].Flags[1]);

        NtpConfiguration c = Load("seed003-gps.conf");
        Assert.Equal("/etc/ntp/leap-seconds.list", c.LeapFile);
        Assert.Equal("/var/log/ntpstats/", c.StatsDirectory);
        FudgeConfig gps = c.Fudges[new RefclockAddress(20, 0)];
        Assert.True(gps.Flags[1]);
        Assert.Equal(0.728, gps.Time2);
        Assert.Equal(5, c.Associations.Count);
        Assert.All(c.Associations, a => Assert.True(a.Iburst));
    }

    [Fact]
    public void Seed004_mynet_peers_broadcast_and_keys()
    {
        NtpConfiguration c = Load("seed004-acapulco.conf");
        Assert.Equal(4, c.Associations.Count);
        Assert.All(c.Associations, a => Assert.Equal(AssociationKind.Peer, a.Kind));
        Assert.Equal("10.0.246.255", Assert.Single(c.Broadcasts).Address);
        Assert.Equal((65534, 65535), (c.RequestKey, c.ControlKey));
        Assert.Equal([2313u, 65534u, 65535u], c.Keys.Ids.Order());
        Assert.Equal(Meridian.Protocol.MacAlgorithm.Md5, c.Keys[65534]!.Algorithm);
        Assert.Equal("NoSecret"u8.ToArray(), c.Keys[65534]!.Secret.ToArray());

        NtpConfiguration moscow = Load("seed004-moscow.conf");
        Assert.Equal(1, moscow.Associations[0].Version);

        NtpConfiguration chicago = Load("seed004-chicago.conf");
        Assert.True(chicago.BroadcastClient);
        Assert.Equal(0.05, chicago.BroadcastDelay);
        Assert.Contains("NTPv3 form", Assert.Single(chicago.Diagnostics, d => !d.NotInEffect).Message, StringComparison.Ordinal);
        // broadcastclient and broadcastdelay are in effect; resolver and requestkey are read and said not to be.
        Assert.Equal(["resolver", "requestkey"], chicago.NotInEffect.Select(d => d.Message.Split('\'')[1]));
    }

    [Fact]
    public void Seed004_restrict_policy_longest_mask_entries()
    {
        NtpConfiguration c = Load("seed004-policy.conf");
        Assert.Equal(
            [(RestrictTarget.Default, 0, RestrictFlags.NoTrust | RestrictFlags.NoModify), (RestrictTarget.Address, 16, RestrictFlags.NoModify),
             (RestrictTarget.Address, 32, RestrictFlags.NoModify), (RestrictTarget.Address, 32, RestrictFlags.NoModify),
             (RestrictTarget.Address, 32, RestrictFlags.None), (RestrictTarget.Address, 32, RestrictFlags.None)],
            c.Restrictions.Select(r => (r.Target, r.MaskBits, r.Flags)));
    }

    [Fact]
    public void Seed004_sample_keys_file()
    {
        var diagnostics = new List<ConfigDiagnostic>();
        KeyRing keys = KeyRing.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Seeds", "seed004-keys.keys")), "ntp.keys", diagnostics);
        Assert.Empty(diagnostics);
        Assert.Equal([4u, 6u, 22u], keys.Ids.Order());
        Assert.Equal("DonTTelL"u8.ToArray(), keys[4]!.Secret.ToArray());
        Assert.DoesNotContain("DonTTelL", keys[4]!.ToString(), StringComparison.Ordinal);
    }
}
