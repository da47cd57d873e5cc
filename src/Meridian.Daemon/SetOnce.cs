using System.Globalization;
using Meridian.Host;

namespace Meridian.Daemon;

/// <summary>
/// <c>ntpd -q</c>: once the clock is synchronized, one correction as ntpdate makes it — a step when the offset is
/// beyond the step threshold (<c>tinker step</c>, 0.128 s by default, 600 s with <c>-x</c>), else a slew with
/// adjtime — then the daemon exits. Under <c>disable ntp</c> it says what it would have done and changes nothing.
/// </summary>
public static class SetOnce
{
    /// <summary>Whether <paramref name="offset"/> is stepped (true) or slewed (false) at <paramref name="stepThreshold"/> (0: always slew, as ntpd).</summary>
    public static bool Steps(double offset, double stepThreshold) => stepThreshold > 0 && Math.Abs(offset) > stepThreshold;

    /// <summary>Makes the correction; returns the exit code.</summary>
    public static int Correct(double offset, double stepThreshold, bool clockControl, Log log)
    {
        ArgumentNullException.ThrowIfNull(log);
        bool step = Steps(offset, stepThreshold);
        string text = offset.ToString("+0.000000;-0.000000", CultureInfo.InvariantCulture);
        try
        {
            if (clockControl)
            {
                if (step)
                {
                    ClockWriter.Step(offset);
                }
                else
                {
                    ClockWriter.Slew(offset);
                }
            }

            log.Notice($"ntpd: time {(step ? "set" : "slew")} {text}s");
            return 0;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            log.Error($"ntpd: cannot {(step ? "set" : "slew")} the clock by {text}s: {e.Message}");
            return 1;
        }
    }
}
