using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>
/// The system clock as the engine sees it. The engine never reads the OS clock itself, so the same code runs against
/// the kernel clock, a clock it must not touch (<c>disable ntp</c>), and the simulator's virtual clocks.
/// </summary>
public interface IClock
{
    /// <summary>The current time as an NTP timestamp.</summary>
    NtpTimestamp Now();
}
