namespace Meridian.Simulation;

/// <summary>
/// The simulator's true time and its event queue. Events at the same instant run in the order they were scheduled,
/// so a run is a pure function of its seed.
/// </summary>
public sealed class VirtualTime
{
    private readonly PriorityQueue<Action, (double Time, long Sequence)> _events = new();
    private long _sequence;

    /// <summary>
    /// UTC at virtual time 0: <see cref="SimulatedClock.Epoch"/> unless a run needs another date (a leap second of
    /// the past, say). Every clock, server and receiver of the run counts from it.
    /// </summary>
    public Meridian.Protocol.NtpTimestamp Epoch { get; init; } = SimulatedClock.Epoch;

    /// <summary>
    /// The leap seconds of the run's true UTC (none by default). Virtual time runs on without them, as TAI does; UTC,
    /// which the reference servers serve, repeats a second at each insertion and skips one at each deletion.
    /// </summary>
    public Meridian.Engine.LeapTable? Leaps { get; init; }

    /// <summary>True UTC at virtual time <paramref name="t"/>, as NTP counts it (leap seconds not counted).</summary>
    public Meridian.Protocol.NtpTimestamp Utc(double t) => Epoch + Meridian.Protocol.NtpDuration.FromSeconds(t - LeapsSince(t));

    /// <summary>
    /// Leap seconds inserted (less those deleted) between the epoch and virtual time <paramref name="t"/>: during an
    /// inserted second UTC reads the last second of the day once more.
    /// </summary>
    public int LeapsSince(double t)
    {
        if (Leaps is null)
        {
            return 0;
        }

        double epoch = Meridian.Engine.LeapTable.Seconds(Epoch);
        int count = 0;
        for (int i = 1; i < Leaps.Transitions.Count; i++)
        {
            long leap = Leaps.Transitions[i].NtpSeconds;
            if (leap <= epoch)
            {
                continue;
            }

            double utc = epoch + t - count;
            bool insertion = Leaps.Transitions[i].TaiOffset > Leaps.Transitions[i - 1].TaiOffset;
            if (insertion && utc > leap)
            {
                count++;
            }
            else if (!insertion && utc >= leap - 1)
            {
                count--;
            }
        }

        return count;
    }

    /// <summary>True time, seconds since the start of the run.</summary>
    public double Now { get; private set; }

    public void At(double time, Action action) => _events.Enqueue(action, (Math.Max(time, Now), _sequence++));

    public void After(double delay, Action action) => At(Now + delay, action);

    /// <summary>Runs events until <paramref name="end"/>; returns when the queue is empty or the time is reached.</summary>
    public void RunUntil(double end)
    {
        while (_events.TryPeek(out _, out var key) && key.Time <= end)
        {
            Action action = _events.Dequeue();
            Now = Math.Max(Now, key.Time);
            action(); // it may schedule more
        }

        Now = Math.Max(Now, end);
    }

    /// <summary>Calls <paramref name="action"/> every <paramref name="period"/> seconds from <paramref name="start"/>.</summary>
    public void Every(double period, double start, Action action)
    {
        void Fire()
        {
            action();
            After(period, Fire);
        }

        At(start, Fire);
    }
}
