using Meridian.Engine;
using Meridian.Protocol;
using Meridian.Simulation;

namespace Meridian.Simulation.Tests;

public sealed class MitigationTests
{
    [Theory]
    [InlineData(1.0)]
    [InlineData(0.1)]
    public void A_falseticker_among_four_is_never_the_system_peer(double falseOffset)
    {
        var lab = new Lab(seed: 11);
        var good = new[] { lab.Server(), lab.Server(), lab.Server() };
        var liar = lab.Server(falseOffset);
        var node = lab.Node(new ClockModel { InitialOffset = 0.001 }, new EngineSettings());
        foreach (var server in good.Append(liar))
        {
            node.AddServer(server.Address, s => s with { Iburst = true });
        }

        Association liarAssociation = node.Engine.Associations.Single(a => a.Address.Address.Equals(liar.Address));
        bool liarWasPeer = false;
        lab.Run(7200, 1, () => liarWasPeer |= node.Engine.SystemPeer == liarAssociation);

        Assert.False(liarWasPeer);
        Assert.Equal(TallyCode.Falseticker, liarAssociation.Tally);
        Assert.All(node.Engine.Associations.Where(a => a != liarAssociation), a => Assert.Contains(a.Tally, new[] { TallyCode.SystemPeer, TallyCode.Candidate, TallyCode.Outlier }));
        Assert.True(Math.Abs(node.Clock.Error) < 0.001, $"error {node.Clock.Error * 1e3:0.000} ms");
    }

    [Fact]
    public void A_leap_second_is_announced_when_most_sources_do_and_armed_in_the_kernel_only_on_the_last_day_of_the_month()
    {
        // Virtual time starts on 2026-11-22; the month ends eight days later, with a leap second in true UTC.
        var lab = new Lab(seed: 17, leaps: new LeapTable([new(3692217600, 37), new(4005072000, 38)], 0, 4100000000));
        var servers = new[] { lab.Server(), lab.Server(), lab.Server() };
        var node = lab.Node(settings: new EngineSettings());
        foreach (var server in servers)
        {
            node.AddServer(server.Address, s => s with { Iburst = true });
        }

        servers[0].Leap = LeapIndicator.AddSecond;
        lab.Run(1800);
        Assert.Equal(LeapIndicator.NoWarning, node.Engine.State.Leap);

        servers[1].Leap = LeapIndicator.AddSecond;
        lab.Run(3 * 1024);
        Assert.Equal(LeapIndicator.AddSecond, node.Engine.State.Leap);
        Assert.Contains(node.Log, e => e.Message.StartsWith("leap second insertion announced", StringComparison.Ordinal));
        // Linux would insert it at the next midnight: on the 22nd the kernel must not know yet.
        Assert.Equal(LeapIndicator.NoWarning, node.Clock.ArmedLeap);
        Assert.Empty(node.Clock.LeapCalls);

        // The last day of November: armed once, within a tick of midnight.
        lab.Run(SimulatedClock.Epoch.ToDateTime().AddDays(8).Subtract(node.Clock.Now().ToDateTime()).TotalSeconds + 2);
        (DateTime armedAt, LeapIndicator armed) = Assert.Single(node.Clock.LeapCalls);
        Assert.Equal((new DateOnly(2026, 11, 30), LeapIndicator.AddSecond), (DateOnly.FromDateTime(armedAt), armed));
        Assert.InRange(armedAt.TimeOfDay.TotalSeconds, 0, 3);
        Assert.Contains(node.Log, e => e.Message.StartsWith("leap second insertion armed in the kernel", StringComparison.Ordinal));

        // After midnight the servers stop announcing, and the kernel flag is cleared.
        lab.Run(86400 - 10);
        servers[0].Leap = servers[1].Leap = LeapIndicator.NoWarning;
        lab.Run(3 * 1024);
        Assert.Equal(LeapIndicator.NoWarning, node.Engine.State.Leap);
        Assert.Equal(LeapIndicator.NoWarning, node.Clock.ArmedLeap);
        Assert.Equal(2, node.Clock.LeapCalls.Count);
        Assert.Equal(new DateOnly(2026, 12, 1), DateOnly.FromDateTime(node.Clock.LeapCalls[1].Utc));
        // The kernel (the simulated clock) repeated 23:59:59 as UTC did: no step was needed.
        Assert.Equal(1, node.Clock.LeapsPerformed);
        Assert.InRange(Math.Abs(node.Clock.Error), 0, 0.005);
    }

    [Fact]
    public void Every_clock_update_refreshes_the_kernel_status_and_losing_every_source_marks_it_unsynchronized()
    {
        var lab = new Lab(seed: 19);
        var server = lab.Server();
        var node = lab.Node(settings: new EngineSettings { Discipline = DisciplineKind.Classic });
        node.AddServer(server.Address, s => s with { Iburst = true, MaxPoll = 6 });

        lab.Run(3600);
        Assert.True(node.Clock.Status is (true, > 0, >= 0));
        int updates = node.Clock.StatusUpdates;
        // One refresh per clock update: with a 64 s poll, dozens an hour, not one at the first synchronization.
        lab.Run(3600);
        Assert.InRange(node.Clock.StatusUpdates - updates, 30, 3600 / 16);

        server.Online = false;
        lab.Run(3600);
        Assert.Equal(false, node.Clock.Status?.Synchronized);
    }

    [Fact]
    public void When_the_system_peer_disappears_a_backup_takes_over_within_3_polls()
    {
        var lab = new Lab(seed: 13);
        var servers = new[] { lab.Server(), lab.Server(), lab.Server() };
        var node = lab.Node(settings: new EngineSettings());
        foreach (var server in servers)
        {
            node.AddServer(server.Address, s => s with { Iburst = true });
        }

        lab.Run(3600);
        Association peer = node.Engine.SystemPeer!;
        Assert.NotNull(peer);
        double poll = Math.Pow(2, peer.HostPoll);
        servers.Single(s => s.Address.Equals(peer.Address.Address)).Online = false;

        double? took = lab.RunUntil(() => node.Engine.SystemPeer is { } p && p != peer, within: 10 * poll);

        Assert.NotNull(took);
        Assert.True(took <= 3 * poll + 8, $"took {took} s with polls of {poll} s");
        Assert.Contains(node.Log, e => e.Message.StartsWith("new system peer", StringComparison.Ordinal) && e.Time > 3600);
    }

    [Fact]
    public void Prefer_picks_the_system_peer_among_survivors()
    {
        var lab = new Lab(seed: 17);
        var servers = new[] { lab.Server(), lab.Server(), lab.Server() };
        var node = lab.Node(settings: new EngineSettings());
        node.AddServer(servers[0].Address, s => s with { Iburst = true });
        node.AddServer(servers[1].Address, s => s with { Iburst = true });
        Association preferred = node.AddServer(servers[2].Address, s => s with { Iburst = true, Prefer = true });

        lab.Run(1800);

        Assert.Same(preferred, node.Engine.SystemPeer);
        Assert.Equal(TallyCode.SystemPeer, preferred.Tally);
    }

    [Fact]
    public void Noselect_sources_are_polled_but_never_selected()
    {
        var lab = new Lab(seed: 19);
        var server = lab.Server();
        var node = lab.Node(settings: new EngineSettings());
        Association watched = node.AddServer(server.Address, s => s with { Iburst = true, NoSelect = true });

        lab.Run(600);

        Assert.NotEqual(0, watched.Reach);
        Assert.Null(node.Engine.SystemPeer);
        Assert.False(node.Engine.State.IsSynchronized);
    }

    [Theory]
    [InlineData("LOCL")]
    [InlineData("XYZ")] // fudge ... refid XYZ: still the local clock, still only a fallback
    public void The_local_clock_is_chosen_only_when_nothing_better_is_reachable(string refid)
    {
        var lab = new Lab(seed: 23);
        var server = lab.Server();
        var node = lab.Node(settings: new EngineSettings());
        node.AddServer(server.Address, s => s with { Iburst = true });
        Association local = node.Engine.Add(new AssociationSettings(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("127.127.1.0"), 123))
        {
            Mode = AssociationMode.Refclock,
            RefclockType = LocalClockDriver.Type,
            RefclockStratum = 10,
            RefclockId = ReferenceId.FromAscii(refid),
        });

        lab.Run(1800);
        Assert.NotSame(local, node.Engine.SystemPeer);
        // Held aside as a backup: it takes no part in the intersection or the combined offset.
        Assert.Equal(TallyCode.Backup, local.Tally);
        Assert.Equal(2, node.Engine.State.Stratum);

        server.Online = false;
        lab.Run(4 * 1024 + 60);
        Assert.Same(local, node.Engine.SystemPeer);
        Assert.Equal(11, node.Engine.State.Stratum);
        // At stratum 11 the refid is the source's address, whatever the clock calls itself (the fudged refid
        // names the clock only at stratum 0, as in ntpd).
        Assert.Equal(refid, local.ReferenceId.ToAscii());
        Assert.Equal("127.127.1.0", node.Engine.State.ReferenceId.ToDottedQuad());
    }
}

public sealed class HierarchyTests
{
    [Fact]
    public void Strata_1_2_3_and_symmetric_peers_at_stratum_3_settle()
    {
        var lab = new Lab(seed: 29, link: new LinkModel { BaseDelay = 0.0005, Jitter = 0.00005 });
        var primary = lab.Server();
        var clock = new ClockModel { InitialOffset = 0.004, InitialFrequency = 5e-6, Wander = 1e-9 };
        var secondary = lab.Node(clock, new EngineSettings());
        secondary.AddServer(primary.Address, s => s with { Iburst = true });
        var left = lab.Node(clock with { InitialOffset = -0.006 }, new EngineSettings());
        var right = lab.Node(clock with { InitialFrequency = -8e-6 }, new EngineSettings());
        left.AddServer(secondary.Address, s => s with { Iburst = true });
        right.AddServer(secondary.Address, s => s with { Iburst = true });
        Association leftPeer = left.AddServer(right.Address, s => s with { Mode = AssociationMode.SymmetricActive });
        Association rightPeer = right.AddServer(left.Address, s => s with { Mode = AssociationMode.SymmetricActive });

        lab.Run(4 * 3600);

        Assert.Equal(2, secondary.Engine.State.Stratum);
        Assert.Equal(3, left.Engine.State.Stratum);
        Assert.Equal(3, right.Engine.State.Stratum);
        Assert.All(new[] { secondary, left, right }, n => Assert.True(Math.Abs(n.Clock.Error) < 0.0005, $"{n.Address}: {n.Clock.Error * 1e6:0} µs"));
        Assert.NotEqual(0, leftPeer.Reach);
        Assert.NotEqual(0, rightPeer.Reach);
        Assert.True(Math.Abs(leftPeer.Filter.Offset) < 0.001, $"peer offset {leftPeer.Filter.Offset * 1e6:0} µs");
        Assert.Equal(3, leftPeer.Stratum);
    }

    [Fact]
    public void An_incoming_symmetric_peer_gets_a_passive_association_at_the_peers_rate_that_goes_when_the_peer_does()
    {
        var lab = new Lab(seed: 31);
        var primary = lab.Server();
        var a = lab.Node(settings: new EngineSettings());
        // disable auth: b lets an unauthenticated peer in (seed 000's configuration).
        var b = lab.Node(settings: new EngineSettings { Flags = SystemFlags.Default & ~SystemFlags.Auth });
        a.AddServer(primary.Address, s => s with { Iburst = true });
        b.AddServer(primary.Address, s => s with { Iburst = true });
        Association active = a.AddServer(b.Address, s => s with { Mode = AssociationMode.SymmetricActive, MinPoll = 4, MaxPoll = 4 });

        lab.Run(1800);

        Association passive = Assert.Single(b.Engine.Associations, x => x.Mode == AssociationMode.SymmetricPassive);
        Assert.Equal(a.Address, passive.Address.Address);
        Assert.NotEqual(0, passive.Reach);
        // The peer polls every 16 s: so does the passive side (b's own minpoll is 64 s).
        long sent = passive.Sent;
        lab.Run(1600);
        Assert.InRange(passive.Sent - sent, 90, 110);

        // The peer goes away: after ten polls without an answer (ntpd's NTP_UNREACH) the association is demobilized,
        // and the discipline's poll limits never followed the passive peer's.
        int minPoll = b.Engine.Discipline.PollExponent;
        a.Engine.Remove(active);
        double? gone = lab.RunUntil(() => !b.Engine.Associations.Contains(passive), within: 3600);
        Assert.NotNull(gone);
        Assert.InRange(gone!.Value, 16 * 8, 16 * 11 + 1);
        Assert.True(b.Engine.Discipline.PollExponent >= 6, $"poll exponent {b.Engine.Discipline.PollExponent} (was {minPoll})");
        Assert.Contains(b.Log, e => e.Message.Contains("passive association demobilized", StringComparison.Ordinal));
    }

    [Fact]
    public void Under_enable_auth_an_unauthenticated_symmetric_peer_gets_no_association()
    {
        var lab = new Lab(seed: 37);
        var a = lab.Node(settings: new EngineSettings());
        var b = lab.Node(settings: new EngineSettings());
        a.AddServer(b.Address, s => s with { Mode = AssociationMode.SymmetricActive });

        lab.Run(600);

        Assert.DoesNotContain(b.Engine.Associations, x => x.Mode == AssociationMode.SymmetricPassive);
        Assert.True(b.Engine.Responder.Counters.Dropped(DropReason.Restricted) > 0);
    }
}
