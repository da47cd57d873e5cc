using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Client;

/// <summary>
/// The one rule by which ntpdate and ntpdig choose among the servers that answered: the lowest stratum, then the
/// least synchronization distance (RFC 5905 §11.2's root distance of the best sample: half the root delay plus the
/// root dispersion of the server, half the delay plus the dispersion of the sample); a server whose distance is at
/// or beyond the 1.5 s threshold is not chosen at all.
/// </summary>
public static class ServerSelection
{
    /// <summary>The synchronization distance of a sample with <paramref name="delay"/> and <paramref name="dispersion"/> (seconds) from a server that sent <paramref name="header"/>.</summary>
    public static double Distance(in NtpHeader header, double delay, double dispersion) =>
        header.RootDelay.ToSeconds() / 2 + header.RootDispersion.ToSeconds() + Math.Abs(delay) / 2 + dispersion;

    /// <summary>The best of <paramref name="candidates"/> by the rule above, or null when none qualifies.</summary>
    public static T? Best<T>(IEnumerable<T> candidates, Func<T, NtpHeader> header, Func<T, double> distance)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(candidates);
        return candidates
            .Where(c => distance(c) < NtpConstants.MaxDistance)
            .OrderBy(c => header(c).Stratum)
            .ThenBy(distance)
            .FirstOrDefault();
    }
}
