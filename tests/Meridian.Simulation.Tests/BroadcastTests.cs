using System.Net;
using Meridian.Engine;
using Meridian.Protocol;
using Meridian.Simulation;

namespace Meridian.Simulation.Tests;

/// <summary>Broadcast and multicast on a simulated LAN: the server is a node that broadcasts, the clients hear it.</summary>
public sealed class BroadcastTests
{
    private static readonly IPEndPoint Group = new(IPAddress.Parse("224.0.1.1"), 123);

    /// <summary>seed 000's client: broadcast client on, auth off (no key), no unicast server.</summary>
    private static EngineSettings Client(bool volley = true, double broadcastDelay = 0.004) => new()
    {
        Flags = (SystemFlags.Default | SystemFlags.BroadcastClient) & ~SystemFlags.Auth,
        BroadcastVolley = volley,
        BroadcastDelay = broadcastDelay,
    };

    /// <summary>A stratum-2 server, synchronized to a primary, broadcasting every 8 s (seed 000 says minpoll 3).</summary>
    private static SimulatedNode BroadcastServer(Lab lab)
    {
        var primary = lab.Server();
        var server = lab.Node(settings: new EngineSettings());
        server.AddServer(primary.Address, s => s with { Iburst = true, MinPoll = 4, MaxPoll = 4 });
        server.Engine.Add(new AssociationSettings(Group) { Mode = AssociationMode.Broadcast, MinPoll = 3 });
        return server;
    }

    [Fact]
    public void With_a_volley_the_client_measures_the_delay_and_without_one_broadcastdelay_stands_for_it()
    {
        // 2 ms each way between the hosts: the volley measures a 4 ms round trip; novolley assumes 4 ms one way.
        var lab = new Lab(seed: 41, new LinkModel { BaseDelay = 0.002, Jitter = 0.00002 });
        SimulatedNode server = BroadcastServer(lab);
        SimulatedNode calibrated = lab.Node(settings: Client());
        SimulatedNode assumed = lab.Node(settings: Client(volley: false, broadcastDelay: 0.004));

        lab.Run(3600);

        Association heard = Assert.Single(calibrated.Engine.Associations);
        Assert.Equal((AssociationMode.BroadcastClient, server.Address), (heard.Mode, heard.Address.Address));
        Assert.False(heard.InVolley);
        Assert.InRange(heard.CalibratedDelay!.Value, 0.0019, 0.0022);
        Assert.Equal(heard, calibrated.Engine.SystemPeer);
        Assert.Equal(server.Engine.State.Stratum + 1, calibrated.Engine.State.Stratum);
        Assert.True(Math.Abs(calibrated.Clock.Error - server.Clock.Error) < 0.0003, $"calibrated client {calibrated.Clock.Error * 1e3:0.000} ms, server {server.Clock.Error * 1e3:0.000} ms");

        Association guessed = Assert.Single(assumed.Engine.Associations);
        Assert.Null(guessed.CalibratedDelay);
        // It believes packets take 4 ms where they take 2: its clock runs 2 ms ahead of the server's.
        Assert.InRange(assumed.Clock.Error - server.Clock.Error, 0.0016, 0.0024);
    }

    [Fact]
    public void A_client_whose_server_goes_away_lets_it_go_and_takes_it_back_when_it_returns()
    {
        var lab = new Lab(seed: 43);
        SimulatedNode server = BroadcastServer(lab);
        SimulatedNode client = lab.Node(settings: Client());
        lab.Run(1800);
        Assert.NotNull(client.Engine.SystemPeer);

        lab.Network.Detach(server.Address);
        double? gone = lab.RunUntil(() => client.Engine.Associations.Count == 0, within: 600);
        Assert.NotNull(gone);
        // Ten broadcast intervals of 8 s without a broadcast.
        Assert.InRange(gone!.Value, 70, 100);
        Assert.Contains(client.Log, e => e.Message.Contains("broadcast client association demobilized", StringComparison.Ordinal));

        lab.Network.Attach(server);
        double? back = lab.RunUntil(() => client.Engine.SystemPeer is not null, within: 600);
        Assert.NotNull(back);
        Assert.True(Math.Abs(client.Clock.Error - server.Clock.Error) < 0.001);
    }

    [Fact]
    public void Under_enable_auth_an_unsigned_broadcast_is_ignored_and_said_so()
    {
        var lab = new Lab(seed: 47);
        BroadcastServer(lab);
        SimulatedNode client = lab.Node(settings: new EngineSettings { Flags = SystemFlags.Default | SystemFlags.BroadcastClient });

        lab.Run(600);

        Assert.Empty(client.Engine.Associations);
        Assert.True(client.Engine.Responder.Counters.Dropped(DropReason.BadAuth) >= 50);
        Assert.Single(client.Log, e => e.Message.Contains("not authenticated, and 'enable auth' requires it", StringComparison.Ordinal));
    }

    [Fact]
    public void One_packet_moves_no_clock_a_replay_is_dropped_and_a_lone_spike_waits_for_confirmation()
    {
        var transport = new NullTransport();
        var clock = new FixedClock(SimulatedClock.Epoch);
        var engine = new NtpEngine(Client(volley: false), clock, NoClockControl.Instance, transport, new SeededRandomSource(1));
        var server = new IPEndPoint(IPAddress.Parse("198.18.0.9"), 123);
        byte[] Broadcast(double at, double offset)
        {
            var packet = new byte[48];
            new NtpHeader
            {
                Version = 4, Mode = NtpMode.Broadcast, Stratum = 2, Poll = 3, ReferenceId = ReferenceId.FromAscii("GPS"),
                ReferenceTimestamp = SimulatedClock.Epoch, TransmitTimestamp = SimulatedClock.Epoch + NtpDuration.FromSeconds(at + offset - 0.004),
            }.Write(packet);
            return packet;
        }

        // One packet mobilizes, but a single sample cannot be selected.
        engine.Receive(Broadcast(0, 0.5), server, SimulatedClock.Epoch, 0, IPAddress.Parse("198.18.0.2"), Group.Address);
        Association heard = Assert.Single(engine.Associations);
        engine.Tick(1);
        Assert.Null(engine.SystemPeer);

        for (int i = 1; i <= 8; i++)
        {
            engine.Receive(Broadcast(8 * i, 0), server, SimulatedClock.Epoch + NtpDuration.FromSeconds(8 * i), 8 * i, IPAddress.Parse("198.18.0.2"), Group.Address);
        }

        Assert.Equal(heard, engine.SystemPeer);
        double settled = heard.Filter.Offset;
        Assert.InRange(settled, -0.0001, 0.0001);

        // The same broadcast again: a replay, dropped.
        long duplicates = heard.Duplicates;
        engine.Receive(Broadcast(64, 0), server, SimulatedClock.Epoch + NtpDuration.FromSeconds(65), 65, IPAddress.Parse("198.18.0.2"), Group.Address);
        Assert.Equal(duplicates + 1, heard.Duplicates);

        // A lone broadcast 0.3 s off (a spoof) is held back; the filter keeps what it had.
        engine.Receive(Broadcast(72, 0.3), server, SimulatedClock.Epoch + NtpDuration.FromSeconds(72), 72, IPAddress.Parse("198.18.0.2"), Group.Address);
        Assert.Equal(settled, heard.Filter.Offset);
        Assert.Equal(PeerEvent.Popcorn, heard.LastEvent);
        engine.Receive(Broadcast(80, 0), server, SimulatedClock.Epoch + NtpDuration.FromSeconds(80), 80, IPAddress.Parse("198.18.0.2"), Group.Address);
        Assert.InRange(heard.Filter.Offset, -0.0001, 0.0001);
    }

    private sealed class NullTransport : INtpTransport
    {
        public NtpTimestamp Send(IPEndPoint destination, IPAddress? source, ReadOnlySpan<byte> packet, bool clientRequest) => NtpTimestamp.Zero;

        public NtpTimestamp SendToGroup(IPEndPoint group, ReadOnlySpan<byte> packet, int ttl, bool clientRequest) => NtpTimestamp.Zero;
    }

    private sealed class FixedClock(NtpTimestamp now) : IClock
    {
        public NtpTimestamp Now() => now;
    }
}
