using Meridian.Engine;
using Meridian.Host;
using Meridian.Host.Nts;

namespace Meridian.Daemon;

/// <summary>
/// What the NTS server refused, in the log: NTP requests whose cookie did not open or whose authenticator failed
/// (each answered with an NTS NAK, RFC 8915 §5.7), replays and malformed NTS requests (dropped), and NTS-KE
/// connections that ended without keys (a wrong ALPN, another TLS version, a bad request, a timeout). A forger can
/// send many, so the log gets one line at the first refusal and then at most one a minute, with the counts since the
/// last line and the totals.
/// </summary>
public sealed class NtsRefusals(Log log)
{
    /// <summary>Seconds between two report lines at most once a minute: a flood costs one line a minute.</summary>
    public const double ReportInterval = 60;

    private static readonly (DropReason Reason, string What)[] Packets =
    [
        (DropReason.NtsBadCookie, "with a cookie that did not open (NAK sent)"),
        (DropReason.NtsBadAuth, "whose authenticator failed (NAK sent)"),
        (DropReason.NtsReplay, "replayed (not answered)"),
        (DropReason.NtsMalformed, "malformed (dropped)"),
    ];

    private readonly Dictionary<string, long> _reported = [];
    private double _lastReport = double.NegativeInfinity;

    /// <summary>
    /// From the event loop's tick: a line when something was refused since the last one and a minute has passed.
    /// <paramref name="keyExchange"/> is null on a fleet server that serves NTS-authenticated NTP without NTS-KE.
    /// </summary>
    public void Tick(double now, PacketCounters packets, NtsKeServerCounters? keyExchange, long badKeRequests)
    {
        ArgumentNullException.ThrowIfNull(packets);
        if (now - _lastReport < ReportInterval)
        {
            return;
        }

        var totals = new List<(string What, long Count)>();
        foreach ((DropReason reason, string what) in Packets)
        {
            totals.Add(($"NTP requests {what}", packets.Dropped(reason)));
        }

        if (keyExchange is not null)
        {
            foreach ((NtsKeServerFailure reason, long count) in keyExchange.Failures)
            {
                totals.Add(($"NTS-KE connections refused ({reason})", count));
            }

            totals.Add(("NTS-KE connections timed out", keyExchange.TimedOut));
            totals.Add(("NTS-KE connections refused (busy)", keyExchange.RefusedBusy));
            totals.Add(("NTS-KE requests answered with an error", badKeRequests));
        }

        List<string> news = totals
            .Select(t => (t.What, t.Count, New: t.Count - _reported.GetValueOrDefault(t.What)))
            .Where(t => t.New > 0)
            .Select(t => $"{t.New} {t.What} ({t.Count} in all)")
            .ToList();
        if (news.Count == 0)
        {
            return;
        }

        foreach ((string what, long count) in totals)
        {
            _reported[what] = count;
        }

        _lastReport = now;
        log.Notice("NTS refused: " + string.Join("; ", news));
    }
}
