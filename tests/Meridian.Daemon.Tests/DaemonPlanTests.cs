using System.Net;
using Meridian.Config;
using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Daemon.Tests;

/// <summary>The translation of ntp.conf and the command line into what the daemon starts with: pure, no root.</summary>
public sealed class DaemonPlanTests
{
    private static DaemonPlan Plan(string text, DaemonOptions? options = null, double? drift = null)
    {
        NtpConfiguration config = ConfigParser.Parse(text, "ntp.conf");
        Assert.False(config.HasErrors, string.Join("\n", config.Diagnostics));
        return DaemonPlan.From(config, options ?? new DaemonOptions(), drift, -20);
    }

    private static AccessFlags Flags(DaemonPlan plan, string address) => plan.Engine.Access.Lookup(IPAddress.Parse(address));

    [Fact]
    public void Without_lines_the_defaults_are_ntpds()
    {
        DaemonPlan plan = Plan("");
        EngineSettings e = plan.Engine;
        Assert.Equal((3, 10, 1, 16, 300.0), (e.Selection.MinClock, e.Selection.MaxClock, e.Selection.MinSane, e.Selection.Orphan, e.Selection.OrphanWait));
        Assert.Equal((0.128, 300.0, 1000.0), (e.Limits.StepThreshold, e.Limits.Stepout, e.Limits.PanicThreshold));
        Assert.Equal(0.128, plan.StepThreshold);
        Assert.Null(e.Limits.InitialFrequency);
        Assert.Equal(SystemFlags.Default, e.Flags);
        Assert.True(e.KernelDiscipline);
        Assert.Equal((3, 2.0, 8192, 600, 3600.0), (e.Discard.Average, e.Discard.Minimum, e.Discard.MaxDepth, e.Discard.MinDepth, e.Discard.MaxAge));
        Assert.Equal(-20, e.Precision);
        // NTPsec's default: other hosts get time but no mode 6 answer; loopback may query.
        Assert.Equal(AccessFlags.NoQuery, Flags(plan, "192.0.2.1"));
        Assert.Equal(AccessFlags.None, Flags(plan, "127.0.0.1"));
    }

    [Theory]
    [InlineData("", false, 0.128)]
    [InlineData("", true, 600)]
    [InlineData("tinker step 0.5", true, 0.5)]
    [InlineData("tinker step 0", false, 0)]
    public void The_step_threshold_is_tinker_step_else_the_default_for_x(string line, bool slewMostly, double expected)
    {
        DaemonPlan plan = Plan(line, new DaemonOptions { SlewMostly = slewMostly });
        Assert.Equal(expected, plan.StepThreshold);
        Assert.Equal(expected, plan.Engine.Limits.StepThreshold);
    }

    [Fact]
    public void Tos_tinker_and_flags_reach_the_engine()
    {
        DaemonPlan plan = Plan("tos minclock 2 maxclock 6 minsane 2 orphan 9 orphanwait 30\ntinker stepout 600 panic 0 freq 12.5\ndisable kernel auth\nprecision -18\n");
        EngineSettings e = plan.Engine;
        Assert.Equal((2, 6, 2, 9, 30.0), (e.Selection.MinClock, e.Selection.MaxClock, e.Selection.MinSane, e.Selection.Orphan, e.Selection.OrphanWait));
        Assert.Equal((600.0, 0.0), (e.Limits.Stepout, e.Limits.PanicThreshold));
        Assert.Equal(12.5e-6, e.Limits.InitialFrequency!.Value, 12);
        Assert.False(e.KernelDiscipline);
        Assert.Equal(SystemFlags.Default & ~(SystemFlags.Kernel | SystemFlags.Auth), e.Flags);
        Assert.Equal(-18, e.Precision);
        // A drift file outranks tinker freq.
        Assert.Equal(3e-6, Plan("tinker freq 12.5", drift: 3).Engine.Limits.InitialFrequency!.Value, 12);
    }

    [Fact]
    public void Restrict_lines_merge_by_address_and_mask_and_unrestrict_takes_flags_away()
    {
        DaemonPlan plan = Plan("""
            restrict default kod nomodify
            restrict default limited
            restrict 192.0.2.0 mask 255.255.255.0 noserve
            restrict 192.0.2.0/24 notrust
            unrestrict 192.0.2.0/24 noserve
            restrict 127.0.0.1
            """);
        Assert.Equal(AccessFlags.Kod | AccessFlags.NoModify | AccessFlags.Limited, Flags(plan, "198.51.100.1"));
        Assert.Equal(AccessFlags.Kod | AccessFlags.NoModify | AccessFlags.Limited, Flags(plan, "2001:db8::1"));
        Assert.Equal(AccessFlags.NoTrust, Flags(plan, "192.0.2.77"));
        Assert.Equal(AccessFlags.None, Flags(plan, "127.0.0.1"));
    }

    [Fact]
    public void Default_lines_split_by_family_and_unrestrict_default_lifts_the_built_in_noquery()
    {
        DaemonPlan plan = Plan("restrict -4 default ignore\nunrestrict -6 default noquery\n");
        Assert.Equal(AccessFlags.Ignore, Flags(plan, "198.51.100.1"));
        Assert.Equal(AccessFlags.None, Flags(plan, "2001:db8::1"));
        Assert.Equal(AccessFlags.NoQuery, Flags(Plan("restrict -4 default ignore\n"), "2001:db8::1"));
    }

    [Fact]
    public void Restrict_source_covers_the_associations_and_host_names_stand_for_what_they_resolved_to()
    {
        NtpConfiguration config = ConfigParser.Parse("restrict default nopeer\nrestrict source nomodify\nrestrict timehost noquery\n", "ntp.conf");
        RestrictList list = AccessList.Build(config.Restrictions, new Dictionary<string, IPAddress[]> { ["timehost"] = [IPAddress.Parse("192.0.2.9")] });
        Assert.Equal(AccessFlags.NoModify, list.SourceFlags);
        Assert.Equal(AccessFlags.NoQuery, list.Lookup(IPAddress.Parse("192.0.2.9")));
        Assert.Equal(AccessFlags.NoPeer, list.Lookup(IPAddress.Parse("192.0.2.10")));
        RestrictList sourced = list.WithSources([IPAddress.Parse("198.18.0.1")]);
        Assert.Equal(AccessFlags.NoModify, sourced.Lookup(IPAddress.Parse("198.18.0.1")));
        // Not resolved yet: the name stands for no address.
        Assert.Equal(AccessFlags.NoPeer, AccessList.Build(config.Restrictions, new Dictionary<string, IPAddress[]>()).Lookup(IPAddress.Parse("192.0.2.9")));
        Assert.Equal(["timehost"], AccessList.HostNames(config.Restrictions));
    }

    [Fact]
    public void Keys_trusted_and_control_keys_come_from_the_keys_file()
    {
        string directory = Directory.CreateTempSubdirectory("meridian-plan-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "ntp.keys"), "1 MD5 one\n2 SHA1 two\n5 AES128CMAC 000102030405060708090a0b0c0d0e0f\n");
            string conf = Path.Combine(directory, "ntp.conf");
            File.WriteAllText(conf, "keys ntp.keys\ntrustedkey 1 3 5\ncontrolkey 2\n");
            NtpConfiguration config = ConfigParser.ParseFile(conf);
            DaemonPlan plan = DaemonPlan.From(config, new DaemonOptions(), null, -20);

            Assert.Equal([1u, 5u], plan.Engine.TrustedKeys.Select(k => k.Id));
            Assert.Equal(MacAlgorithm.Aes128Cmac, plan.Engine.TrustedKeys[1].Algorithm);
            Assert.Equal(3, plan.Engine.StoredKeys);
            // controlkey 2 is in the file but not trusted: remote configuration stays off, and the log says why.
            Assert.Null(plan.Engine.ControlKey);
            Assert.Contains(plan.Warnings, w => w == "controlkey 2 is not a trustedkey: remote configuration stays off");
            Assert.Contains(plan.Warnings, w => w.StartsWith("trustedkey 3 is not in the keys file", StringComparison.Ordinal));

            File.WriteAllText(conf, "keys ntp.keys\ntrustedkey 1 2\ncontrolkey 2\n");
            Assert.Equal(2u, DaemonPlan.From(ConfigParser.ParseFile(conf), new DaemonOptions(), null, -20).Engine.ControlKey?.Id);
        }
        finally
        {
            Directory.Delete(directory, true);
        }
    }

    [Fact]
    public void Associations_are_settings_now_or_names_to_resolve()
    {
        DaemonPlan plan = Plan("""
            server 192.0.2.1 iburst minpoll 4 maxpoll 6 key 7
            peer time.example.net
            pool pool.example.net
            server 127.127.1.0
            fudge 127.127.1.0 stratum 5 refid ABC
            server 127.127.8.0
            server 192.0.2.99
            unpeer 192.0.2.99
            server 127.127.20.0 mode 17 minpoll 4
            fudge 127.127.20.0 flag1 1 time2 0.726
            device 127.127.20.0 timedata /dev/ttyAMA0
            """);
        Assert.Equal(6, plan.Associations.Count);
        AssociationSettings server = plan.Associations[0].Settings!;
        Assert.Equal((AssociationMode.Client, 4, 6, true, 7u), (server.Mode, server.MinPoll, server.MaxPoll, server.Iburst, server.Key));
        Assert.True(plan.Associations[1].NeedsName);
        Assert.Equal(AssociationMode.SymmetricActive, DaemonPlan.Settings(plan.Associations[1].Config, IPAddress.Loopback).Mode);
        Assert.False(plan.Associations[2].NeedsName);
        AssociationSettings local = plan.Associations[3].Settings!;
        Assert.Equal((AssociationMode.Refclock, 5, "ABC", "LOCAL(0)"), (local.Mode, local.RefclockStratum, local.RefclockId.ToAscii(), local.Name));
        // A driver this build does not have: no association (the parser warned about the line).
        Assert.True(plan.Associations[4] is { Settings: null, NeedsName: false });
        Assert.Contains("192.0.2.99: removed by unpeer", plan.Warnings);
        // The NMEA driver: stratum 0, refid GPS, its poll fixed at minpoll, and what the driver is given.
        AssociationSettings gps = plan.Associations[5].Settings!;
        Assert.Equal((AssociationMode.Refclock, 0, "GPS", "GPS_NMEA(0)", 4, 4), (gps.Mode, gps.RefclockStratum, gps.RefclockId.ToAscii(), gps.Name, gps.MinPoll, gps.MaxPoll));
        Assert.Equal(new Meridian.Engine.Refclocks.RefclockSettings(20, 0) { Mode = 17, Time2 = 0.726, Flags = 1, Path = "/dev/ttyAMA0" }, gps.Refclock);
    }

    [Fact]
    public void Mru_maxmem_bounds_the_depth_and_discard_sets_the_limits()
    {
        DiscardSettings d = Plan("mru maxdepth 100000 maxmem 64 mindepth 10 maxage 60\ndiscard average 5 minimum 1\n").Engine.Discard;
        Assert.Equal((64 * 1024 / MruList.EntrySize, 10, 60.0, 5, 1.0), (d.MaxDepth, d.MinDepth, d.MaxAge, d.Average, d.Minimum));
    }

    [Fact]
    public void Disable_kernel_under_the_adaptive_discipline_is_named_as_having_no_effect()
    {
        Assert.Contains(Plan("disable kernel\n").Warnings, w => w.StartsWith("disable kernel: the adaptive discipline never uses the kernel PLL", StringComparison.Ordinal));
        Assert.DoesNotContain(Plan("disable kernel\n", new DaemonOptions { Discipline = DisciplineKind.Classic }).Warnings, w => w.StartsWith("disable kernel", StringComparison.Ordinal));
        Assert.False(Plan("disable kernel\n", new DaemonOptions { Discipline = DisciplineKind.Classic }).Engine.KernelDiscipline);
    }
}
