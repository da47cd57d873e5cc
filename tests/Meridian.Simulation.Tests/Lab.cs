using System.Net;
using Meridian.Engine;
using Meridian.Simulation;

namespace Meridian.Simulation.Tests;

/// <summary>A small simulated network for one test: servers on 198.18.0.x, clients on 198.18.1.x.</summary>
internal sealed class Lab
{
    private int _servers;
    private int _nodes;

    /// <param name="seed">Seeds the network and every node.</param>
    /// <param name="link">The default link; 2 ms ± 0.1 ms.</param>
    /// <param name="epoch">UTC at virtual time 0 (<see cref="SimulatedClock.Epoch"/> by default).</param>
    /// <param name="leaps">The leap seconds of the run's true UTC (none by default).</param>
    public Lab(int seed = 1, LinkModel? link = null, DateTime? epoch = null, LeapTable? leaps = null)
    {
        Seed = seed;
        Time = new VirtualTime { Epoch = epoch is DateTime utc ? Meridian.Protocol.NtpTimestamp.FromDateTime(utc) : SimulatedClock.Epoch, Leaps = leaps };
        Network = new SimulatedNetwork(Time, new Random(seed))
        {
            DefaultLink = link ?? new LinkModel { BaseDelay = 0.002, Jitter = 0.0001 },
        };
    }

    public int Seed { get; }

    public VirtualTime Time { get; }

    /// <summary>Runs until true UTC (virtual time from the epoch) is <paramref name="utc"/>.</summary>
    public void RunUntil(DateTime utc) => Time.RunUntil((utc - Time.Epoch.ToDateTime()).TotalSeconds);

    public SimulatedNetwork Network { get; }

    public ReferenceServer Server(double offset = 0)
    {
        var server = new ReferenceServer(IPAddress.Parse($"198.18.0.{++_servers}"), Time, Network, offset);
        Network.Attach(server);
        return server;
    }

    public SimulatedNode Node(ClockModel? clock = null, EngineSettings? settings = null)
    {
        var node = new SimulatedNode(IPAddress.Parse($"198.18.1.{++_nodes}"), Time, Network, clock ?? new ClockModel(), settings ?? new EngineSettings(), Seed * 1000 + _nodes);
        Network.Attach(node);
        return node;
    }

    public void Run(double seconds) => Time.RunUntil(Time.Now + seconds);

    /// <summary>Runs, calling <paramref name="check"/> every <paramref name="period"/> seconds.</summary>
    public void Run(double seconds, double period, Action check)
    {
        double end = Time.Now + seconds;
        while (Time.Now < end)
        {
            Time.RunUntil(Math.Min(end, Time.Now + period));
            check();
        }
    }

    /// <summary>Runs until <paramref name="condition"/> holds (checked every second); returns the time it took, or null.</summary>
    public double? RunUntil(Func<bool> condition, double within)
    {
        double start = Time.Now;
        while (Time.Now - start < within)
        {
            Time.RunUntil(Time.Now + 1);
            if (condition())
            {
                return Time.Now - start;
            }
        }

        return null;
    }
}
