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
        if (!_hosts.TryGetValue(to.Address, out ISimulatedHost? host) || !_hosts.ContainsKey(from.Address))
        {
            // No such host, or the sender is off the network itself.
            Lost++;
            return;
        }

        Carry(from, host, datagram, null);
    }

    /// <summary>A broadcast or a multicast: every other host on the network gets it, each over its own link.</summary>
    public void SendToGroup(IPEndPoint from, IPAddress group, byte[] datagram)
    {
        if (!_hosts.ContainsKey(from.Address))
        {
            Lost++;
            return;
        }

        foreach (ISimulatedHost host in _hosts.Values.Where(h => !h.Address.Equals(from.Address)).ToList())
        {
            Carry(from, host, datagram, group);
        }
    }

    private void Carry(IPEndPoint from, ISimulatedHost host, byte[] datagram, IPAddress? group)
    {
        LinkModel link = _links.TryGetValue((from.Address, host.Address), out LinkModel? l) ? l : DefaultLink;
        if (!link.IsUp(time.Now) || random.NextDouble() < link.Loss)
        {
            Lost++;
            return;
        }

        double delay = link.BaseDelay + (link.Jitter > 0 ? -link.Jitter * Math.Log(1 - random.NextDouble()) : 0);
        time.After(delay, () =>
        {
            Delivered++;
            host.Deliver(datagram, from, group);
        });
    }
}

/// <summary>Anything the network can deliver to.</summary>
public interface ISimulatedHost
{
    IPAddress Address { get; }

    /// <param name="datagram">What arrived.</param>
    /// <param name="from">Who sent it.</param>
    /// <param name="group">The broadcast address or multicast group it was sent to, or null for one sent to this host.</param>
    void Deliver(byte[] datagram, IPEndPoint from, IPAddress? group);
}
