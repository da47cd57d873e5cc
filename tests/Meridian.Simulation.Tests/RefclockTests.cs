using System.Net;
using Meridian.Engine;
using Meridian.Engine.Refclocks;
using Meridian.Protocol;
using Meridian.Simulation;

namespace Meridian.Simulation.Tests;

/// <summary>
/// Reference clocks under the real engine on a simulated host: a GPS receiver whose sentences arrive a serial delay
/// after each second and whose PPS edges mark the second, as seed 003's Raspberry Pi sees them.
/// </summary>
public sealed class RefclockTests
{
    private static AssociationSettings Refclock(int type, int mode = 0, double time1 = 0, double time2 = 0, int flags = 0, bool noselect = false, bool prefer = false, int minpoll = 4)
    {
        var refclock = new RefclockSettings(type, 0) { Mode = mode, Time1 = time1, Time2 = time2, Flags = flags };
        RefclockDriver prototype = RefclockDriver.Create(refclock);
        return new AssociationSettings(new IPEndPoint(IPAddress.Parse($"127.127.{type}.0"), 123))
        {
            Mode = AssociationMode.Refclock, RefclockType = type, RefclockId = ReferenceId.FromAscii(prototype.DefaultReferenceId),
            MinPoll = minpoll, MaxPoll = minpoll, NoSelect = noselect, Prefer = prefer, Iburst = true, Name = prototype.Name, Refclock = refclock,
        };
    }

    private static (SimulatedNode Node, SimulatedGps Gps) Host(Lab lab, double sentenceDelay, double clockOffset = 0.05)
    {
        SimulatedNode node = lab.Node(new ClockModel { InitialOffset = clockOffset, InitialFrequency = 20e-6 });
        var gps = new SimulatedGps(lab.Time, node.Clock, lab.Seed) { SentenceDelay = sentenceDelay };
        node.Engine.Devices = gps;
        return (node, gps);
    }

    [Fact]
    public void Seed_003_first_step_noselect_and_time2_0_shows_minus_the_serial_delay_beside_the_network_servers()
    {
        var lab = new Lab(seed: 3);
        (SimulatedNode node, _) = Host(lab, sentenceDelay: 0.726);
        node.AddServer(lab.Server().Address, s => s with { Iburst = true });
        Association gps = node.Engine.Add(Refclock(20, mode: 17, noselect: true));

        lab.Run(1800);

        Assert.Equal(AssociationMode.Client, node.Engine.SystemPeer!.Mode);
        Assert.Equal(0xFF, gps.Reach);
        // ntpq -pn's offset column: the clock is right (the network disciplines it), the sentences 726 ms late.
        Assert.InRange(gps.Filter.Offset, -0.730, -0.722);
        Assert.Equal((0, "GPS"), (gps.Stratum, gps.ReferenceId.ToAscii()));
    }

    [Fact]
    public void With_time2_the_GPS_alone_makes_a_stratum_1_server_within_a_few_milliseconds()
    {
        var lab = new Lab(seed: 5);
        (SimulatedNode node, _) = Host(lab, sentenceDelay: 0.726);
        Association gps = node.Engine.Add(Refclock(20, mode: 17, time2: 0.726));

        double? synced = lab.RunUntil(() => node.Engine.SystemPeer == gps, within: 120);
        lab.Run(3600);

        Assert.NotNull(synced);
        Assert.Equal((1, "GPS"), (node.Engine.State.Stratum, node.Engine.State.ReferenceId.ToAscii()));
        Assert.Equal(TallyCode.SystemPeer, gps.Tally);
        Assert.InRange(Math.Abs(node.Clock.Error), 0, 0.003);
    }

    [Fact]
    public void Seed_003_with_flag1_the_PPS_takes_over_as_the_o_peer_and_the_clock_comes_within_microseconds()
    {
        var lab = new Lab(seed: 7);
        (SimulatedNode node, SimulatedGps receiver) = Host(lab, sentenceDelay: 0.728);
        receiver.SentenceJitter = 0.005;
        node.AddServer(lab.Server().Address, s => s with { Iburst = true });
        Association gps = node.Engine.Add(Refclock(20, mode: 17, time2: 0.726, flags: 1));

        lab.Run(7200);

        Assert.Equal(gps, node.Engine.SystemPeer);
        Assert.Equal(TallyCode.PpsPeer, gps.Tally);
        Assert.Equal(-20, gps.Precision);
        Assert.InRange(Math.Abs(gps.Filter.Offset), 0, 0.00002);
        Assert.InRange(Math.Abs(node.Clock.Error), 0, 0.00002);
        Assert.Equal(1, node.Engine.State.Stratum);
    }

    [Fact]
    public void A_bare_PPS_signal_disciplines_only_while_a_prefer_peer_numbers_the_seconds()
    {
        var lab = new Lab(seed: 11);
        var preferred = Host(lab, sentenceDelay: 0.2);
        preferred.Node.AddServer(lab.Server().Address, s => s with { Iburst = true, Prefer = true });
        Association pps = preferred.Node.Engine.Add(Refclock(22) with { Refclock = new RefclockSettings(22, 0) { Path = "/dev/gpspps0" } });

        var unpreferred = Host(lab, sentenceDelay: 0.2);
        unpreferred.Node.AddServer(lab.Server().Address, s => s with { Iburst = true });
        Association alone = unpreferred.Node.Engine.Add(Refclock(22) with { Refclock = new RefclockSettings(22, 0) { Path = "/dev/gpspps0" } });

        lab.Run(3600);

        Assert.Equal((pps, TallyCode.PpsPeer), (preferred.Node.Engine.SystemPeer, pps.Tally));
        Assert.InRange(Math.Abs(preferred.Node.Clock.Error), 0, 0.00002);
        // Without prefer the pulse is measured but not used: the network server stays the system peer.
        Assert.NotEqual(0, alone.Reach);
        Assert.Equal(AssociationMode.Client, unpreferred.Node.Engine.SystemPeer!.Mode);
        Assert.NotEqual(TallyCode.PpsPeer, alone.Tally);
    }

    [Fact]
    public void A_receiver_unplugged_and_plugged_back_is_let_go_and_taken_back()
    {
        var lab = new Lab(seed: 13);
        (SimulatedNode node, SimulatedGps receiver) = Host(lab, sentenceDelay: 0.3);
        Association gps = node.Engine.Add(Refclock(20, time2: 0.3));
        node.AddServer(lab.Server().Address, s => s with { Iburst = true, MinPoll = 4, MaxPoll = 4 });
        lab.Run(600);
        Assert.Equal(gps, node.Engine.SystemPeer);

        receiver.Online = false;
        lab.Run(600);
        Assert.Equal(0, gps.Reach);
        Assert.NotEqual(gps, node.Engine.SystemPeer);
        Assert.Equal(RefclockEvent.Fault, gps.Driver!.CurrentStatus);
        Assert.Contains(node.Log, e => e.Message.Contains("GPS_NMEA(0): /dev/gps0: No such file or directory; trying again every 5 s", StringComparison.Ordinal));

        receiver.Online = true;
        Assert.NotNull(lab.RunUntil(() => node.Engine.SystemPeer == gps, within: 600));
        Assert.Contains(node.Log, e => e.Message.Contains("GPS_NMEA(0): /dev/gps0 opened at 4800 bps", StringComparison.Ordinal));
    }

    [Fact]
    public void The_shared_memory_driver_reads_a_gpsd_style_segment()
    {
        var lab = new Lab(seed: 17);
        (SimulatedNode node, _) = Host(lab, sentenceDelay: 0.15);
        Association shm = node.Engine.Add(Refclock(28, time1: 0.15) with { RefclockId = ReferenceId.FromAscii("GPS") });

        lab.Run(1800);

        Assert.Equal(shm, node.Engine.SystemPeer);
        Assert.Equal((1, "GPS"), (node.Engine.State.Stratum, node.Engine.State.ReferenceId.ToAscii()));
        Assert.InRange(Math.Abs(node.Clock.Error), 0, 0.003);
    }
}
