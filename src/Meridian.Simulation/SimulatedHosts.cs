using System.Net;
using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Simulation;

/// <summary>
/// A primary server with a perfect reference (or one off by a fixed amount, to play a falseticker): answers client
/// requests at stratum 1. It runs the real <see cref="ServerResponder"/>.
/// </summary>
public sealed class ReferenceServer : ISimulatedHost
{
    private readonly SimulatedNetwork _network;
    private readonly VirtualTime _time;
    private readonly ServerResponder _responder;

    public ReferenceServer(IPAddress address, VirtualTime time, SimulatedNetwork network, double offset = 0, string refid = "GPS")
    {
        Address = address;
        _time = time;
        _network = network;
        Offset = offset;
        var clock = new OffsetClock(time, () => Offset);
        _responder = new ServerResponder(clock, new SystemState(LeapIndicator.NoWarning, 1, -20, 0, 0.0001, ReferenceId.FromAscii(refid), time.Epoch));
        time.Every(16, 0, () => _responder.State = _responder.State with { ReferenceTime = clock.Now() });
    }

    public IPAddress Address { get; }

    /// <summary>How far this server's time is off true time (a falseticker's error), seconds.</summary>
    public double Offset { get; set; }

    /// <summary>The leap indicator the server announces.</summary>
    public LeapIndicator Leap
    {
        get => _responder.State.Leap;
        set => _responder.State = _responder.State with { Leap = value };
    }

    /// <summary>When false the server answers nothing (it has "disappeared").</summary>
    public bool Online { get; set; } = true;

    public PacketCounters Counters => _responder.Counters;

    public void Deliver(byte[] datagram, IPEndPoint from, IPAddress? group)
    {
        if (!Online || group is not null)
        {
            return;
        }

        var reply = new byte[ServerResponder.MaxReplyLength];
        NtpTimestamp arrival = _time.Utc(_time.Now) + NtpDuration.FromSeconds(Offset);
        int length = _responder.Respond(datagram, arrival, reply);
        if (length > 0)
        {
            _network.Send(new IPEndPoint(Address, 123), from, reply[..length]);
        }
    }

    private sealed class OffsetClock(VirtualTime time, Func<double> offset) : IClock
    {
        public NtpTimestamp Now() => time.Utc(time.Now) + NtpDuration.FromSeconds(offset());
    }
}

/// <summary>A host running the real <see cref="NtpEngine"/> on a <see cref="SimulatedClock"/>.</summary>
public sealed class SimulatedNode : ISimulatedHost, INtpTransport
{
    private readonly SimulatedNetwork _network;
    private readonly VirtualTime _time;
    private int _nextPort = 40000;

    public SimulatedNode(IPAddress address, VirtualTime time, SimulatedNetwork network, ClockModel clock, EngineSettings settings, int seed)
    {
        Address = address;
        _time = time;
        _network = network;
        var random = new Random(seed);
        Clock = new SimulatedClock(time, clock, new Random(seed ^ 0x5A5A5A5));
        Engine = new NtpEngine(settings, Clock, Clock, this, new SeededRandomSource(seed));
        // The engine's once-a-second timer, from a random phase so that nodes do not tick in lockstep.
        time.Every(1, time.Now + random.NextDouble(), Tick);
    }

    public IPAddress Address { get; }

    public SimulatedClock Clock { get; }

    public NtpEngine Engine { get; }

    /// <summary>Set when the engine panicked: the daemon would have exited, so the node stops.</summary>
    public bool Exited { get; private set; }

    public List<EngineEvent> Log { get; } = new();

    public Association AddServer(IPAddress server, Func<AssociationSettings, AssociationSettings>? configure = null)
    {
        var settings = new AssociationSettings(new IPEndPoint(server, 123));
        return Engine.Add(configure is null ? settings : configure(settings));
    }

    public void Deliver(byte[] datagram, IPEndPoint from, IPAddress? group)
    {
        if (Exited)
        {
            return;
        }

        Engine.Receive(datagram, from, Clock.Now(), _time.Now, Address, group);
        Drain();
    }

    public NtpTimestamp Send(IPEndPoint destination, IPAddress? source, ReadOnlySpan<byte> packet, bool clientRequest)
    {
        int port = clientRequest ? (_nextPort = _nextPort >= 60000 ? 40000 : _nextPort + 1) : 123;
        _network.Send(new IPEndPoint(Address, port), destination, packet.ToArray());
        return NtpTimestamp.Zero;
    }

    public NtpTimestamp SendToGroup(IPEndPoint group, ReadOnlySpan<byte> packet, int ttl, bool clientRequest)
    {
        int port = clientRequest ? (_nextPort = _nextPort >= 60000 ? 40000 : _nextPort + 1) : 123;
        _network.SendToGroup(new IPEndPoint(Address, port), group.Address, packet.ToArray());
        return NtpTimestamp.Zero;
    }

    private void Tick()
    {
        if (Exited)
        {
            return;
        }

        Engine.Tick(_time.Now);
        Drain();
    }

    /// <summary>
    /// NTS-KE as the daemon would run it for an association that asks (<see cref="NtpEngine.KeyExchangeRequests"/>):
    /// the keys and cookies, or null when the exchange failed. Answered 0.1 s later, as over TLS.
    /// </summary>
    public Func<Association, Meridian.Engine.Nts.NtsClientState?>? KeyExchange { get; set; }

    /// <summary>The name service: what a name resolves to at this moment (empty: it does not resolve).</summary>
    public Func<string, IReadOnlyList<IPAddress>> Resolver { get; set; } = _ => [];

    private void Drain()
    {
        while (Engine.Events.TryDequeue(out EngineEvent? e))
        {
            Log.Add(e);
        }

        while (Engine.ResolveRequests.TryDequeue(out Pool? pool))
        {
            // A resolver answers within a few tens of milliseconds.
            _time.After(0.03, () => Engine.PoolResolved(pool, Resolver(pool.Name), _time.Now));
        }

        while (Engine.KeyExchangeRequests.TryDequeue(out Association? association))
        {
            if (KeyExchange is { } exchange)
            {
                _time.After(0.1, () =>
                {
                    if (exchange(association) is { } state)
                    {
                        Engine.SetNts(association, state);
                    }
                });
            }
        }

        if (Engine.Panicked)
        {
            Exited = true;
        }
    }
}
