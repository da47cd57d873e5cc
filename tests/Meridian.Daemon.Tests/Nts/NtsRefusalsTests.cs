using Meridian.Engine;
using Meridian.Host;
using Meridian.Host.Nts;

namespace Meridian.Daemon.Tests.Nts;

/// <summary>The log line of what the NTS server refused: at the first refusal, then at most once a minute, with the counts.</summary>
public sealed class NtsRefusalsTests
{
    private static NtsKeServerCounters KeyExchange(long alpn, long timedOut = 0) =>
        new(0, alpn, timedOut, 0, 0, 0, 0, new Dictionary<NtsKeServerFailure, long> { [NtsKeServerFailure.NoApplicationProtocol] = alpn, [NtsKeServerFailure.PeerAlert] = 0 });

    [Fact]
    public void The_first_refusal_is_logged_at_once_later_ones_once_a_minute_and_nothing_is_logged_without_news()
    {
        var text = new StringWriter();
        using Log log = Log.ToWriter("ntpd", text);
        var refusals = new NtsRefusals(log);
        var packets = new PacketCounters();

        refusals.Tick(100, packets, KeyExchange(0), 0);
        Assert.Equal(string.Empty, text.ToString());

        refusals.Tick(101, packets, KeyExchange(1), 0);
        Assert.Contains("NTS refused: 1 NTS-KE connections refused (NoApplicationProtocol) (1 in all)", text.ToString(), StringComparison.Ordinal);

        // Within the minute: counted, not logged; after it, the news since the last line and the totals.
        refusals.Tick(130, packets, KeyExchange(5, timedOut: 2), 1);
        Assert.Single(text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        refusals.Tick(161, packets, KeyExchange(5, timedOut: 2), 1);
        string second = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)[1];
        Assert.Contains("4 NTS-KE connections refused (NoApplicationProtocol) (5 in all); 2 NTS-KE connections timed out (2 in all); 1 NTS-KE requests answered with an error (1 in all)", second, StringComparison.Ordinal);
        Assert.DoesNotContain("PeerAlert", second, StringComparison.Ordinal);

        refusals.Tick(300, packets, KeyExchange(5, timedOut: 2), 1);
        Assert.Equal(2, text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }
}
