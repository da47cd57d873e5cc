using System.Net;
using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>A remote address and port as a value, so that recording a known client allocates nothing.</summary>
public readonly record struct MruKey(UInt128 Address, ushort Port, bool IPv6)
{
    public static MruKey From(IPEndPoint endPoint)
    {
        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        bool v6 = endPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        endPoint.Address.TryWriteBytes(v6 ? bytes : bytes[12..], out _);
        return new MruKey(System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(bytes), (ushort)endPoint.Port, v6);
    }

    public IPEndPoint ToEndPoint()
    {
        Span<byte> bytes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(bytes, Address);
        return new IPEndPoint(new IPAddress(IPv6 ? bytes : bytes[12..]), Port);
    }
}

/// <summary>One client in the MRU list: when it was first and last heard, how often, and in which mode and version.</summary>
public sealed record MruEntry(MruKey Key, NtpTimestamp First, NtpTimestamp Last, long Count, byte ModeVersion, bool Limited = false);

/// <summary>What the rate check made of a packet (<c>discard average/minimum</c>).</summary>
public enum RateVerdict
{
    /// <summary>Within the limits.</summary>
    Ok,

    /// <summary>Over the limits: a <c>limited</c> address gets no answer.</summary>
    Limited,

    /// <summary>Over the limits, and no kiss-o'-death went to this address lately: a <c>kod</c> address may get one.</summary>
    LimitedMayKiss,
}

/// <summary>
/// <c>discard</c> and <c>mru</c>: the rate limits (a burst of 8 packets, then one per 2^average seconds on average and
/// none closer than minimum seconds, as ntpd's leaky bucket) and the list's bounds (at most maxdepth entries; above
/// mindepth, entries not heard for maxage seconds are reused first).
/// </summary>
public sealed record DiscardSettings
{
    /// <summary>log2 of the average interval allowed, seconds (ntpd's default 3: 8 s).</summary>
    public int Average { get; init; } = 3;

    /// <summary>The least interval allowed between two packets, seconds (ntpd's default 2).</summary>
    public double Minimum { get; init; } = 2;

    /// <summary>At most one kiss-o'-death to an address per this many seconds, so that KoDs cannot be used to reflect a flood.</summary>
    public double KissInterval { get; init; } = 8;

    public int MaxDepth { get; init; } = MruList.DefaultCapacity;

    public int MinDepth { get; init; } = 600;

    public double MaxAge { get; init; } = 3600;

    /// <summary>
    /// Octets of mode 6 answers an address may draw at once, and per second after that. A READVAR of 12 octets draws
    /// some 600, so without a budget every open mode 6 server is an amplifier for spoofed floods; with it a flood
    /// from one address gets back at most this burst plus the rate, far less than it sent, and the victim of a
    /// spoofed trickle at most the rate (a full <c>rv</c> every five seconds).
    /// </summary>
    public int ControlBurst { get; init; } = 8192;

    public int ControlRate { get; init; } = 128;
}

/// <summary>
/// The most-recently-used list of remote addresses (ntpd's monitor): what <c>ntpq mrulist</c> shows and what rate
/// limiting judges. One entry per address (whatever the source port, so a client cannot escape its limit by changing
/// ports), bounded to <see cref="Capacity"/> entries; updated from the receive threads under a lock; a known client
/// is recorded and judged without allocating.
/// </summary>
public sealed class MruList
{
    /// <summary>Default <c>mru maxdepth</c>: 8192 entries, about 1.3 MB.</summary>
    public const int DefaultCapacity = 8192;

    /// <summary>Octets one entry takes (node, slot and index share; a test measures 152): ntpq's <c>monstats</c> kilobytes.</summary>
    public const int EntrySize = 160;

    private readonly Dictionary<MruKey, LinkedListNode<Slot>> _index;
    private readonly LinkedList<Slot> _order = new();
    private readonly object _lock = new();
    private readonly double _head;
    private readonly double _limit;

    public MruList(int capacity = DefaultCapacity)
        : this(new DiscardSettings { MaxDepth = capacity })
    {
    }

    public MruList(DiscardSettings settings)
    {
        Settings = settings ?? throw new ArgumentNullException(nameof(settings));
        Capacity = Math.Max(1, settings.MaxDepth);
        _index = new Dictionary<MruKey, LinkedListNode<Slot>>(Math.Min(Capacity, 4096));
        _head = Math.Pow(2, settings.Average);
        _limit = NtpConstants.FilterStages * _head;
    }

    public DiscardSettings Settings { get; }

    public int Capacity { get; }

    /// <summary>The most entries ever held at once.</summary>
    public int Deepest { get; private set; }

    /// <summary>Packets from addresses already listed, new entries made, and entries reused: old ones (above mindepth) or the oldest because the list was full.</summary>
    public long Exists { get; private set; }

    public long New { get; private set; }

    public long RecycledOld { get; private set; }

    public long RecycledFull { get; private set; }

    /// <summary>The last time the least recent entry was heard from, or null when the list is empty.</summary>
    public NtpTimestamp? Oldest
    {
        get
        {
            lock (_lock)
            {
                return _order.Last?.Value.Last;
            }
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _order.Count;
            }
        }
    }

    /// <summary>
    /// Records a packet from <paramref name="key"/> received at <paramref name="now"/> and judges its rate: ntpd's
    /// leaky bucket drains one second per second, each accepted packet adds 2^average, and a packet is over the limit
    /// when the bucket holds 8 packets' worth or it came sooner than minimum after the last one.
    /// </summary>
    public RateVerdict Touch(MruKey key, NtpTimestamp now, byte modeVersion)
    {
        MruKey address = key with { Port = 0 };
        lock (_lock)
        {
            if (_index.TryGetValue(address, out LinkedListNode<Slot>? node))
            {
                Slot slot = node.Value;
                double interval = Math.Max(0, (now - slot.Last).ToSeconds());
                slot.Last = now;
                slot.Port = key.Port;
                slot.Count++;
                slot.ModeVersion = modeVersion;
                Exists++;
                if (node != _order.First)
                {
                    _order.Remove(node);
                    _order.AddFirst(node);
                }

                double leak = Math.Max(0, slot.Leak - interval);
                if (interval + 1 >= Settings.Minimum && leak < _limit)
                {
                    slot.Leak = leak + _head;
                    slot.Limited = false;
                    return RateVerdict.Ok;
                }

                slot.Leak = leak;
                slot.Limited = true;
                return slot.LastKiss.IsZero || (now - slot.LastKiss).ToSeconds() >= Settings.KissInterval ? RateVerdict.LimitedMayKiss : RateVerdict.Limited;
            }

            LinkedListNode<Slot>? oldest = _order.Last;
            if (oldest is not null && (_order.Count >= Capacity || (_order.Count >= Settings.MinDepth && (now - oldest.Value.Last).ToSeconds() > Settings.MaxAge)))
            {
                // Reuse the oldest entry's node: a full list allocates nothing for a new client either.
                if (_order.Count >= Capacity)
                {
                    RecycledFull++;
                }
                else
                {
                    RecycledOld++;
                }

                node = oldest;
                _order.RemoveLast();
                _index.Remove(node.Value.Key);
                node.Value.Reset(address, key.Port, now, modeVersion, _head, Settings.ControlBurst);
            }
            else
            {
                node = new LinkedListNode<Slot>(new Slot(address, key.Port, now, modeVersion, _head, Settings.ControlBurst));
                New++;
            }

            _order.AddFirst(node);
            _index[address] = node;
            Deepest = Math.Max(Deepest, _order.Count);
            return RateVerdict.Ok;
        }
    }

    /// <summary>
    /// Takes <paramref name="octets"/> from the mode 6 budget of <paramref name="key"/>'s address (a token bucket of
    /// <see cref="DiscardSettings.ControlBurst"/> octets refilled at <see cref="DiscardSettings.ControlRate"/> a
    /// second); false, and nothing taken, when the budget does not hold them or the address is not listed.
    /// </summary>
    public bool TrySpendControl(MruKey key, NtpTimestamp now, int octets)
    {
        lock (_lock)
        {
            if (!_index.TryGetValue(key with { Port = 0 }, out LinkedListNode<Slot>? node))
            {
                return false;
            }

            Slot slot = node.Value;
            double elapsed = slot.ControlUpdated.IsZero ? 0 : Math.Max(0, (now - slot.ControlUpdated).ToSeconds());
            slot.ControlUpdated = now;
            slot.ControlBudget = Math.Min(Settings.ControlBurst, slot.ControlBudget + elapsed * Settings.ControlRate);
            if (octets > slot.ControlBudget)
            {
                return false;
            }

            slot.ControlBudget -= octets;
            return true;
        }
    }

    /// <summary>Notes that a kiss-o'-death went to <paramref name="key"/>'s address: the next is due no sooner than the kiss interval.</summary>
    public void Kissed(MruKey key, NtpTimestamp now)
    {
        lock (_lock)
        {
            if (_index.TryGetValue(key with { Port = 0 }, out LinkedListNode<Slot>? node))
            {
                node.Value.LastKiss = now;
            }
        }
    }

    /// <summary>The entries, most recently heard first, at most <paramref name="limit"/>, each with the last port heard.</summary>
    public List<MruEntry> Snapshot(int limit = int.MaxValue)
    {
        lock (_lock)
        {
            return _order.Take(limit).Select(s => new MruEntry(s.Key with { Port = s.Port }, s.First, s.Last, s.Count, s.ModeVersion, s.Limited)).ToList();
        }
    }

    private sealed class Slot(MruKey key, ushort port, NtpTimestamp now, byte modeVersion, double head, double controlBudget)
    {
        public MruKey Key { get; private set; } = key;

        public ushort Port { get; set; } = port;

        public NtpTimestamp First { get; private set; } = now;

        public NtpTimestamp Last { get; set; } = now;

        public long Count { get; set; } = 1;

        public byte ModeVersion { get; set; } = modeVersion;

        /// <summary>The leaky bucket, seconds.</summary>
        public double Leak { get; set; } = head;

        public bool Limited { get; set; }

        public NtpTimestamp LastKiss { get; set; }

        /// <summary>The mode 6 token bucket, octets, as of <see cref="ControlUpdated"/>.</summary>
        public double ControlBudget { get; set; } = controlBudget;

        public NtpTimestamp ControlUpdated { get; set; }

        public void Reset(MruKey key, ushort port, NtpTimestamp now, byte modeVersion, double head, double controlBudget)
        {
            Key = key;
            Port = port;
            First = now;
            Last = now;
            Count = 1;
            ModeVersion = modeVersion;
            Leak = head;
            Limited = false;
            LastKiss = default;
            ControlBudget = controlBudget;
            ControlUpdated = default;
        }
    }
}
