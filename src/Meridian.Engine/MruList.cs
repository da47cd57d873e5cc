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
public sealed record MruEntry(MruKey Key, NtpTimestamp First, NtpTimestamp Last, long Count, byte ModeVersion);

/// <summary>
/// The most-recently-used list of remote addresses (ntpd's monitor, what <c>ntpq mrulist</c> shows and what rate
/// limiting will judge): bounded to <see cref="Capacity"/> entries, the least recently heard evicted first, updated
/// from the receive threads under a lock; a known client is recorded without allocating.
/// </summary>
public sealed class MruList(int capacity = MruList.DefaultCapacity)
{
    /// <summary>ntpd's default <c>mru maxdepth</c> is larger; 1024 entries keep the memory small and the list useful.</summary>
    public const int DefaultCapacity = 1024;

    private readonly Dictionary<MruKey, LinkedListNode<Slot>> _index = new(capacity);
    private readonly LinkedList<Slot> _order = new();
    private readonly object _lock = new();

    public int Capacity { get; } = Math.Max(1, capacity);

    /// <summary>Approximate octets one entry takes (node, slot and index entry): ntpq's <c>monstats</c> kilobytes.</summary>
    public const int EntrySize = 160;

    /// <summary>The most entries ever held at once.</summary>
    public int Deepest { get; private set; }

    /// <summary>Packets from addresses already listed, new entries made, and oldest entries reused because the list was full.</summary>
    public long Exists { get; private set; }

    public long New { get; private set; }

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

    /// <summary>Records a packet from <paramref name="key"/> received at <paramref name="now"/>.</summary>
    public void Touch(MruKey key, NtpTimestamp now, byte modeVersion)
    {
        lock (_lock)
        {
            if (_index.TryGetValue(key, out LinkedListNode<Slot>? node))
            {
                node.Value.Last = now;
                node.Value.Count++;
                node.Value.ModeVersion = modeVersion;
                Exists++;
                _order.Remove(node);
                _order.AddFirst(node);
                return;
            }

            if (_order.Count >= Capacity)
            {
                // Reuse the oldest entry's node: a full list allocates nothing for a new client either.
                node = _order.Last!;
                _order.RemoveLast();
                _index.Remove(node.Value.Key);
                node.Value.Reset(key, now, modeVersion);
                RecycledFull++;
            }
            else
            {
                node = new LinkedListNode<Slot>(new Slot(key, now, modeVersion));
                New++;
            }

            _order.AddFirst(node);
            _index[key] = node;
            Deepest = Math.Max(Deepest, _order.Count);
        }
    }

    /// <summary>The entries, most recently heard first, at most <paramref name="limit"/>.</summary>
    public List<MruEntry> Snapshot(int limit = int.MaxValue)
    {
        lock (_lock)
        {
            return _order.Take(limit).Select(s => new MruEntry(s.Key, s.First, s.Last, s.Count, s.ModeVersion)).ToList();
        }
    }

    private sealed class Slot(MruKey key, NtpTimestamp now, byte modeVersion)
    {
        public MruKey Key { get; private set; } = key;

        public NtpTimestamp First { get; private set; } = now;

        public NtpTimestamp Last { get; set; } = now;

        public long Count { get; set; } = 1;

        public byte ModeVersion { get; set; } = modeVersion;

        public void Reset(MruKey key, NtpTimestamp now, byte modeVersion)
        {
            Key = key;
            First = now;
            Last = now;
            Count = 1;
            ModeVersion = modeVersion;
        }
    }
}
