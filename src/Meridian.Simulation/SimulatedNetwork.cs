using System.Net;

namespace Meridian.Simulation;

/// <summary>How one direction of a path delays and loses packets.</summary>
public sealed record LinkModel
{
    /// <summary>Fixed propagation delay, seconds.</summary>
    public double BaseDelay { get; init; } = 0.001;

    /// <summary>Mean of the exponentially distributed queueing delay added to each packet, seconds.</summary>
    public double Jitter { get; init; }

    /// <summary>Probability a packet is lost.</summary>
    public double Loss { get; init; }

    /// <summary>
    /// When the link is up: null for always, else a period and the part of it (from its start) when the link
    /// works, e.g. up 1800 s of every 86400 s.
    /// </summary>
    public (double Period, double Up)? Availability { get; init; }

    public bool IsUp(double time) =>
        Availability is not { } a || (time % a.Period) < a.Up;
}

/// <summary>
/// Delivers datagrams between simulated hosts through links with delay, jitter, asymmetry (different models per
/// direction), loss and outages.
/// </summary>
public sealed class SimulatedNetwork(VirtualTime time, Random random)
{
    private readonly Dictionary<IPAddress, ISimulatedHost> _hosts = new();
    private readonly Dictionary<(IPAddress From, IPAddress To), LinkModel> _links = new();

    /// <summary>Used where no link was set for a pair.</summary>
    public LinkModel DefaultLink { get; set; } = new();

    public long Delivered { get; private set; }

    public long Lost { get; private set; }

    public void Attach(ISimulatedHost host) => _hosts[host.Address] = host;

    /// <summary>Takes a host off the network (it crashed, or its cable was pulled); <see cref="Attach"/> brings it back.</summary>
    public void Detach(IPAddress address) => _hosts.Remove(address);

    /// <summary>Sets the model of both directions (or of one, with <paramref name="reverse"/>).</summary>
    public void Connect(IPAddress a, IPAddress b, LinkModel forward, LinkModel? reverse = null)
    {
        _links[(a, b)] = forward;
        _links[(b, a)] = reverse ?? forward;
    }

    public void Send(IPEndPoint from, IPEndPoint to, byte[] datagram)
    {
        LinkModel link = _links.TryGetValue((from.Address, to.Address), out LinkModel? l) ? l : DefaultLink;
        if (!_hosts.TryGetValue(to.Address, out ISimulatedHost? host) || !link.IsUp(time.Now) || random.NextDouble() < link.Loss)
        {
            Lost++;
            return;
        }

        double delay = link.BaseDelay + (link.Jitter > 0 ? -link.Jitter * Math.Log(1 - random.NextDouble()) : 0);
        time.After(delay, () =>
        {
            Delivered++;
            host.Deliver(datagram, from);
        });
    }
}

/// <summary>Anything the network can deliver to.</summary>
public interface ISimulatedHost
{
    IPAddress Address { get; }

    void Deliver(byte[] datagram, IPEndPoint from);
}
