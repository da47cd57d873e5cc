using Meridian.Protocol;

namespace Meridian.Engine.Refclocks;

/// <summary>What the configuration gives a driver: <c>server 127.127.t.u mode M</c>, its <c>fudge</c> and device paths.</summary>
public sealed record RefclockSettings(int Type, int Unit)
{
    /// <summary><c>mode</c>: driver-specific bits (NMEA: sentences and speed).</summary>
    public int Mode { get; init; }

    public double Time1 { get; init; }

    public double Time2 { get; init; }

    /// <summary><c>flag1</c>..<c>flag4</c> as bits 0..3.</summary>
    public int Flags { get; init; }

    /// <summary>The timecode device (<c>device ... timedata</c>, NTPsec's <c>path</c>); null for the driver's default.</summary>
    public string? Path { get; init; }

    /// <summary>The PPS device (<c>device ... ppsdata</c>, NTPsec's <c>ppspath</c>); null for the driver's default.</summary>
    public string? PpsPath { get; init; }

    /// <summary>NTPsec's <c>baud</c>, overriding the speed bits of <see cref="Mode"/>.</summary>
    public int? Baud { get; init; }

    public bool Flag(int n) => (Flags & (1 << (n - 1))) != 0;
}

/// <summary>The clock events of a driver (ntpd's CEVNT codes, the <c>status</c> of <c>ntpq -c cv</c>).</summary>
public enum RefclockEvent
{
    Nominal = 0,
    Timeout = 1,
    BadReply = 2,
    Fault = 3,
    Propagation = 4,
    BadDate = 5,
    BadTime = 6,
}

/// <summary>
/// A reference clock driver: it reads its device (serial sentences as they arrive, PPS and shared memory once a
/// second), turns what it reads into offsets in its <see cref="Samples"/>, and at each poll of its association hands
/// the median of those to the clock filter like a network source's sample. Time and devices are injected.
/// </summary>
public abstract class RefclockDriver
{
    /// <summary>How long a driver waits between attempts to open a device that is missing.</summary>
    public const double ReopenInterval = 5;

    private double _nextOpen = double.NegativeInfinity;

    protected RefclockDriver(RefclockSettings settings)
    {
        Settings = settings ?? throw new ArgumentNullException(nameof(settings));
    }

    public RefclockSettings Settings { get; }

    public RefclockSamples Samples { get; } = new();

    /// <summary>The leap indicator of the last sample (unsynchronized until one came).</summary>
    public LeapIndicator Leap { get; protected set; } = LeapIndicator.Unsynchronized;

    /// <summary>The driver's precision (log2 s), which a PPS signal improves.</summary>
    public sbyte Precision { get; protected set; } = -9;

    /// <summary>The reference time of the last sample (the receiver's second).</summary>
    public NtpTimestamp ReferenceTime { get; protected set; }

    /// <summary>The samples of the last poll were PPS-disciplined: the association is a PPS peer (<c>o</c>).</summary>
    public bool PpsActive { get; private set; }

    /// <summary>A PPS sample arrived since the last poll.</summary>
    protected bool PpsUsedSincePoll { get; set; }

    /// <summary>The last timecode read, as <c>ntpq -c cv</c> shows it.</summary>
    public string Timecode { get; protected set; } = "";

    /// <summary>Polls that had samples (ntpd's <c>poll</c> counter).</summary>
    public long Polls { get; private set; }

    public long NoReply { get; private set; }

    public long BadFormat { get; protected set; }

    public long BadData { get; protected set; }

    public RefclockEvent CurrentStatus { get; private set; } = RefclockEvent.Nominal;

    public RefclockEvent LastEvent { get; private set; } = RefclockEvent.Nominal;

    /// <summary>Where the driver writes what it has to say (device missing, recovered).</summary>
    public Action<string> Log { get; set; } = _ => { };

    /// <summary>The name ntpq shows for the driver (<c>GPS_NMEA(0)</c>).</summary>
    public abstract string Name { get; }

    /// <summary>ntpq's <c>device</c> variable.</summary>
    public abstract string Description { get; }

    /// <summary>The driver's reference ID when no <c>fudge refid</c> is given.</summary>
    public abstract string DefaultReferenceId { get; }

    /// <summary>Driver-specific clock variables for <c>ntpq -c cv</c>, after the common ones.</summary>
    public virtual IEnumerable<(string Name, string Value)> Variables => [];

    /// <summary>The driver type (the t of 127.127.t.u) this build has: NMEA 20, PPS 22, SHM 28.</summary>
    public static bool Supports(int type) => type is NmeaDriver.Type or PpsDriver.Type or ShmDriver.Type;

    public static RefclockDriver Create(RefclockSettings settings) => settings.Type switch
    {
        NmeaDriver.Type => new NmeaDriver(settings),
        PpsDriver.Type => new PpsDriver(settings),
        ShmDriver.Type => new ShmDriver(settings),
        _ => throw new ArgumentException($"no driver of type {settings.Type}", nameof(settings)),
    };

    /// <summary>
    /// The once-a-second timer: (re)open what is not open, then read what is read by polling.
    /// <paramref name="synchronized"/> tells whether the system clock numbers the seconds (a bare PPS needs it).
    /// </summary>
    public void Second(IRefclockDevices devices, double now, NtpTimestamp clockNow, bool synchronized)
    {
        ArgumentNullException.ThrowIfNull(devices);
        if (!IsOpen && now >= _nextOpen)
        {
            _nextOpen = now + ReopenInterval;
            if (Open(devices, out string? error))
            {
                Log($"{Name}: {OpenedMessage}");
            }
            else if (CurrentStatus != RefclockEvent.Fault)
            {
                Report(RefclockEvent.Fault);
                Log($"{Name}: {error}; trying again every {ReopenInterval:0} s");
            }
        }

        if (IsOpen)
        {
            Tick(now, clockNow, synchronized);
        }
    }

    /// <summary>
    /// The poll: the median of what was collected, or nothing (a timeout is counted once per outage, as ntpd's
    /// driver does, so that the counter says how often the clock went silent).
    /// </summary>
    public bool TryPoll(double systemPrecision, out double offset, out double jitter)
    {
        PpsActive = PpsUsedSincePoll;
        PpsUsedSincePoll = false;
        if (!Samples.TryTake(Math.Max(systemPrecision, Math.Pow(2, Precision)), out offset, out jitter))
        {
            PpsActive = false;
            if (CurrentStatus == RefclockEvent.Nominal)
            {
                NoReply++;
                Report(RefclockEvent.Timeout);
            }

            return false;
        }

        Polls++;
        if (CurrentStatus != RefclockEvent.Nominal)
        {
            Report(RefclockEvent.Nominal);
        }

        return true;
    }

    /// <summary>Closes the devices (the association is removed, the daemon stops).</summary>
    public abstract void Close();

    protected abstract bool IsOpen { get; }

    protected virtual string OpenedMessage => "device opened";

    protected abstract bool Open(IRefclockDevices devices, out string? error);

    /// <summary>The driver's part of the second: read a device that is polled (PPS, shared memory).</summary>
    protected virtual void Tick(double now, NtpTimestamp clockNow, bool synchronized)
    {
    }

    protected void Report(RefclockEvent e)
    {
        CurrentStatus = e;
        if (e != RefclockEvent.Nominal)
        {
            LastEvent = e;
        }
    }

    protected void CountBadFormat()
    {
        BadFormat++;
        Report(RefclockEvent.BadReply);
    }

    protected void CountBadData(RefclockEvent e)
    {
        BadData++;
        Report(e);
    }
}
