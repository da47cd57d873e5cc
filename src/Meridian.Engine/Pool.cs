using System.Net;

namespace Meridian.Engine;

/// <summary>
/// A <c>pool</c> line: a name that stands for many servers. The engine keeps up to <c>tos maxclock</c> associations
/// in all and asks the host (<see cref="NtpEngine.ResolveRequests"/>) for more addresses while it has fewer; pool
/// associations that stop answering or keep being falsetickers are dropped, and the pool refills from fresh
/// addresses, avoiding the dropped ones for an hour (ntpd's preemptible associations).
/// </summary>
public sealed class Pool
{
    /// <summary>A pool association silent for this many polls in a row is dropped.</summary>
    public const int UnreachablePolls = 8;

    /// <summary>A pool association marked falseticker at this many of its samples in a row is dropped.</summary>
    public const int FalsetickerSamples = 4;

    /// <summary>How long a dropped address is not taken again, seconds.</summary>
    public const double Quarantine = 3600;

    /// <summary>Asking again while still short of servers: first after this many seconds, doubling to <see cref="MaxResolveInterval"/>.</summary>
    public const double MinResolveInterval = 8;

    public const double MaxResolveInterval = 1024;

    private readonly Dictionary<IPAddress, double> _dropped = new();
    private double _interval = MinResolveInterval;

    internal Pool(string name, AssociationSettings template)
    {
        Name = name;
        Template = template;
    }

    /// <summary>The host name to resolve.</summary>
    public string Name { get; }

    /// <summary>Options every association of the pool gets (the address is replaced).</summary>
    public AssociationSettings Template { get; }

    /// <summary>A resolution is outstanding: the host has been asked and has not answered.</summary>
    internal bool Pending { get; set; }

    internal double NextResolve { get; set; }

    internal bool Quarantined(IPAddress address, double now) => _dropped.TryGetValue(address, out double until) && now < until;

    internal void Drop(IPAddress address, double now) => _dropped[address] = now + Quarantine;

    /// <summary>The host answered; the next request backs off while answers bring nothing new.</summary>
    internal void Answered(bool added, double now)
    {
        Pending = false;
        _interval = added ? MinResolveInterval : Math.Min(_interval * 2, MaxResolveInterval);
        NextResolve = now + _interval;
        foreach (IPAddress expired in _dropped.Where(d => d.Value <= now).Select(d => d.Key).ToList())
        {
            _dropped.Remove(expired);
        }
    }
}
