namespace Meridian.Engine;

/// <summary>
/// The host's socket counters (ntpq's <c>iostats</c>): what came in, what went out, and what the queue to the engine
/// thread could not hold. The host increments them from its receive threads; mode 6 reads them.
/// </summary>
public sealed class IoCounters
{
    private long _received;
    private long _sent;
    private long _sendFailed;
    private long _dropped;
    private long _ignored;
    private long _wakeups;
    private long _goodWakeups;
    private long _queued;

    /// <summary>Buffers the queue to the engine thread may hold (ntpd's receive buffers).</summary>
    public int QueueCapacity { get; init; }

    public long Received => Interlocked.Read(ref _received);

    public long Sent => Interlocked.Read(ref _sent);

    public long SendFailed => Interlocked.Read(ref _sendFailed);

    /// <summary>Datagrams the queue had no room for.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Datagrams of zero length: nothing to judge.</summary>
    public long Ignored => Interlocked.Read(ref _ignored);

    /// <summary>Returns from the receive wait, and those that brought a datagram.</summary>
    public long Wakeups => Interlocked.Read(ref _wakeups);

    public long GoodWakeups => Interlocked.Read(ref _goodWakeups);

    /// <summary>Datagrams waiting for the engine thread now.</summary>
    public long Queued => Interlocked.Read(ref _queued);

    public void CountReceived() => Interlocked.Increment(ref _received);

    public void CountSent() => Interlocked.Increment(ref _sent);

    public void CountSendFailed() => Interlocked.Increment(ref _sendFailed);

    public void CountDropped() => Interlocked.Increment(ref _dropped);

    public void CountIgnored() => Interlocked.Increment(ref _ignored);

    public void CountWakeup(bool good)
    {
        Interlocked.Increment(ref _wakeups);
        if (good)
        {
            Interlocked.Increment(ref _goodWakeups);
        }
    }

    /// <summary>One more datagram for the engine thread; false (and counted as dropped) when the queue is full.</summary>
    public bool TryQueue()
    {
        if (Interlocked.Increment(ref _queued) > QueueCapacity)
        {
            Interlocked.Decrement(ref _queued);
            CountDropped();
            return false;
        }

        return true;
    }

    public void Dequeued() => Interlocked.Decrement(ref _queued);
}
