namespace Meridian.Engine;

/// <summary>
/// Turns the offsets measured against the system peer into corrections of the clock. Two implementations exist:
/// <see cref="ClassicDiscipline"/> (ntpd's hybrid PLL/FLL) and <see cref="AdaptiveDiscipline"/> (the default).
/// </summary>
public interface IClockDiscipline
{
    /// <summary>A name for logs and <c>ntpq</c>: "classic" or "adaptive".</summary>
    string Name { get; }

    /// <summary>
    /// True when the discipline wants every sample of the system peer (it filters them itself), false when it wants
    /// the clock filter's choice, as ntpd's loop does.
    /// </summary>
    bool WantsEverySample { get; }

    /// <summary>The poll exponent the discipline asks the system peer to be polled at.</summary>
    int PollExponent { get; }

    /// <summary>The frequency correction in force, seconds per second.</summary>
    double Frequency { get; }

    /// <summary>The phase offset still to be slewed away, seconds.</summary>
    double ResidualOffset { get; }

    /// <summary>RMS of recent offset differences: how noisy the measurements look, seconds.</summary>
    double Jitter { get; }

    /// <summary>RMS of recent frequency differences (wander), seconds per second.</summary>
    double Wander { get; }

    /// <summary>
    /// Takes a new offset measurement (positive: the clock is behind) made at monotonic time <paramref name="now"/>
    /// with the given delay and dispersion of the sample.
    /// </summary>
    DisciplineAction Update(double offset, double delay, double dispersion, double now);

    /// <summary>Called once a second: applies the slew and the frequency through the clock control.</summary>
    void Tick(double now);

    /// <summary>Sets the poll range of the current system peer.</summary>
    void SetPollLimits(int minPoll, int maxPoll);
}
