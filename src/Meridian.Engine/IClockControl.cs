namespace Meridian.Engine;

/// <summary>
/// What a clock discipline may do to the system clock: step it, and set the frequency correction. Slewing a phase
/// offset is done by the discipline itself, as a temporary frequency change spread over its ticks, so the same two
/// calls drive the Linux kernel clock and the simulator's clocks. With <c>disable ntp</c> the daemon gets an
/// implementation that ignores both, and the discipline still computes what it would have done.
/// </summary>
public interface IClockControl
{
    /// <summary>False when the clock must not be touched (<c>disable ntp</c>); the calls below then do nothing.</summary>
    bool CanAdjust { get; }

    /// <summary>Moves the clock by <paramref name="seconds"/> at once.</summary>
    void Step(double seconds);

    /// <summary>
    /// Sets the clock's frequency correction, in seconds per second (1e-6 is +1 ppm: the clock runs faster).
    /// Implementations clamp to what the hardware allows (±500 ppm on Linux).
    /// </summary>
    void SetFrequency(double secondsPerSecond);

    /// <summary>
    /// Arms (or disarms) a leap second at the end of the current UTC day: the kernel inserts or deletes it itself
    /// at midnight, so the daemon need not be awake at that second. False when the kernel refused (the engine tries
    /// again at its next tick).
    /// </summary>
    bool SetLeap(Meridian.Protocol.LeapIndicator leap);

    /// <summary>
    /// Tells the kernel TAI − UTC (from the leap seconds file), so that CLOCK_TAI is right; the kernel itself moves
    /// it by one when it performs a leap. False when refused (tried again at the next tick).
    /// </summary>
    bool SetTaiOffset(int seconds);

    /// <summary>
    /// Tells the kernel whether the clock is synchronized and how well (<c>maxerror</c>: root distance,
    /// <c>esterror</c>: jitter, seconds). Called on every clock update while synchronized, and once when
    /// synchronization is lost.
    /// </summary>
    void SetStatus(bool synchronized, double maxError, double estimatedError);
}

/// <summary>A clock control that changes nothing: <c>disable ntp</c>.</summary>
public sealed class NoClockControl : IClockControl
{
    public static NoClockControl Instance { get; } = new();

    public bool CanAdjust => false;

    public void Step(double seconds)
    {
    }

    public void SetFrequency(double secondsPerSecond)
    {
    }

    public bool SetLeap(Meridian.Protocol.LeapIndicator leap) => true;

    public bool SetTaiOffset(int seconds) => true;

    public void SetStatus(bool synchronized, double maxError, double estimatedError)
    {
    }
}
