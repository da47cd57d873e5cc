using System.Globalization;
using System.Net;
using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>The statistics files of ntpd 4.2.8 (<c>statistics</c>, <c>filegen</c>).</summary>
public enum StatisticsFile
{
    LoopStats,
    PeerStats,
    ClockStats,
    RawStats,
    SysStats,
    ProtoStats,
}

/// <summary>
/// Where the engine's statistics lines go: the daemon's files (written off the event loop), a simulation's lists.
/// The engine asks <see cref="Wants"/> first, so that a disabled file costs nothing.
/// </summary>
public interface IStatisticsSink
{
    bool Wants(StatisticsFile file);

    /// <summary>One line (without its newline), stamped <paramref name="now"/> by the system clock.</summary>
    void Write(StatisticsFile file, NtpTimestamp now, string line);
}

/// <summary>No statistics (the default).</summary>
public sealed class NoStatistics : IStatisticsSink
{
    public static NoStatistics Instance { get; } = new();

    public bool Wants(StatisticsFile file) => false;

    public void Write(StatisticsFile file, NtpTimestamp now, string line)
    {
    }
}

/// <summary>
/// The lines of ntpd 4.2.8's statistics files, field for field in its order, units and precision, so that every
/// script and plotting tool written for ntpd (NTPsec's ntpviz among them) reads ours. Each starts with the Modified
/// Julian Day and the seconds past UTC midnight to the millisecond.
/// </summary>
public static class StatisticsLine
{
    /// <summary>MJD of the NTP era 0 epoch, 1900-01-01.</summary>
    public const long Mjd1900 = 15020;

    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>"MJD SECONDS": the day and the time of day, as every line begins.</summary>
    public static string Stamp(NtpTimestamp now)
    {
        long unix = now.ToUnixNanoseconds();
        long seconds = Math.DivRem(unix, 1_000_000_000L, out long nanos);
        if (nanos < 0)
        {
            seconds--;
            nanos += 1_000_000_000L;
        }

        long day = Math.DivRem(seconds, 86400, out long ofDay);
        if (ofDay < 0)
        {
            day--;
            ofDay += 86400;
        }

        return string.Create(C, $"{day + 40587} {ofDay}.{nanos / 1_000_000:000}");
    }

    /// <summary>loopstats: offset (s), frequency (ppm), RMS jitter (s), wander (ppm), poll exponent.</summary>
    public static string Loop(NtpTimestamp now, double offset, double frequencyPpm, double jitter, double wanderPpm, int poll) =>
        string.Create(C, $"{Stamp(now)} {offset:0.000000000} {frequencyPpm:0.000} {jitter:0.000000000} {wanderPpm:0.000000} {poll}");

    /// <summary>peerstats: address, status word (hex), offset, delay, dispersion, jitter (s).</summary>
    public static string Peer(NtpTimestamp now, IPAddress address, ushort status, double offset, double delay, double dispersion, double jitter) =>
        string.Create(C, $"{Stamp(now)} {address} {status:x} {offset:0.000000000} {delay:0.000000000} {dispersion:0.000000000} {jitter:0.000000000}");

    /// <summary>clockstats: the reference clock's address and its last timecode.</summary>
    public static string Clock(NtpTimestamp now, IPAddress address, string timecode) =>
        string.Create(C, $"{Stamp(now)} {address} {timecode}");

    /// <summary>
    /// rawstats: source and destination, the four timestamps (NTP seconds with nine decimals), then the header's
    /// leap, version, mode, stratum, poll, precision, root delay and dispersion (s) and reference ID.
    /// </summary>
    public static string Raw(NtpTimestamp now, IPAddress source, IPAddress? destination, NtpTimestamp origin, NtpTimestamp receive, NtpTimestamp transmit, NtpTimestamp arrival, in NtpHeader header) =>
        string.Create(C, $"{Stamp(now)} {source} {(destination is null ? "-" : destination.ToString())} {Fixed(origin)} {Fixed(receive)} {Fixed(transmit)} {Fixed(arrival)} {(int)header.Leap} {header.Version} {(int)header.Mode} {header.Stratum} {header.Poll} {header.Precision} {header.RootDelay.ToSeconds():0.000000} {header.RootDispersion.ToSeconds():0.000000} {(header.Stratum <= 1 ? header.ReferenceId.ToAscii() : header.ReferenceId.ToDottedQuad())}");

    /// <summary>
    /// sysstats: seconds since the counters were reset, packets received, processed for us, current version, older
    /// versions, restricted, bad length or format, bad authentication, declined, rate-limited, kisses sent.
    /// </summary>
    public static string Sys(NtpTimestamp now, long since, long received, long processed, long current, long older, long restricted, long badLength, long badAuth, long declined, long limited, long kod) =>
        string.Create(C, $"{Stamp(now)} {since} {received} {processed} {current} {older} {restricted} {badLength} {badAuth} {declined} {limited} {kod}");

    /// <summary>protostats: an event, as ntpd logs it: the address (0.0.0.0 for the system), status word, event code, its name.</summary>
    public static string Proto(NtpTimestamp now, IPAddress? address, ushort status, int code, string name) =>
        string.Create(C, $"{Stamp(now)} {address?.ToString() ?? "0.0.0.0"} {status:x4} {code:x2} {name}");

    /// <summary>An NTP timestamp as ntpd's ulfptoa(…, 9) writes it: era-0 seconds, nine decimals.</summary>
    public static string Fixed(NtpTimestamp t) =>
        string.Create(C, $"{t.Seconds}.{(ulong)t.Fraction * 1_000_000_000UL >> 32:000000000}");
}
