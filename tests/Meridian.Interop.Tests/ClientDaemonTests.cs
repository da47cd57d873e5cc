using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Meridian.Interop.Tests;

/// <summary>Our ntpd as a client: it polls a real upstream server across a (virtual) network and serves what it learns.</summary>
public sealed class ClientDaemonTests
{
    [InteropFact]
    public void Our_ntpd_synchronizes_to_chronyd_and_serves_one_stratum_below()
    {
        using var upstream = new NetworkNamespace();
        using var downstream = new NetworkNamespace();
        upstream.LinkTo(downstream, "198.18.0.1", "198.18.0.2");
        ClientTests.StartChronyServer(upstream);
        string config = downstream.WriteFile("ntp.conf", """
            server 198.18.0.1 iburst
            disable ntp
            """);
        var clock = Stopwatch.StartNew();
        Daemon ntpd = downstream.Start(Sandbox.Out("ntpd"), "-n", "-c", config);

        CommandResult served = downstream.RunUntil(r => r.Stdout.Contains(" s4 ", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");
        double seconds = clock.Elapsed.TotalSeconds;

        Assert.True(served.Stdout.Contains(" s4 no-leap", StringComparison.Ordinal), served + ntpd.Output);
        Assert.Contains("new system peer 198.18.0.1, stratum 3", ntpd.Output, StringComparison.Ordinal);
        // The reference ID of a server synchronized to 198.18.0.1 is that address.
        CommandResult debug = downstream.Run(TimeSpan.FromSeconds(20), Sandbox.Out("ntpdate"), "-d", "127.0.0.1");
        Assert.Contains("refid [198.18.0.1]", debug.Stdout, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"stratum 4, precision -\d+, leap 00"), debug.Stdout);
        Figures.Record($"our ntpd -> chronyd across a veth: serving stratum 4 after {seconds:0.0} s");
    }

    [InteropFact]
    public void A_pool_name_brings_every_address_it_resolves_to()
    {
        using var upstream = new NetworkNamespace();
        using var downstream = new NetworkNamespace();
        upstream.LinkTo(downstream, "198.18.0.1", "198.18.0.2");
        ClientTests.StartChronyServer(upstream);
        // Two addresses for the name: chronyd, and one where nobody answers.
        downstream.Hosts("127.0.0.1 localhost\n198.18.0.1 pool.test\n198.18.0.9 pool.test\n");
        string config = downstream.WriteFile("ntp.conf", """
            pool pool.test iburst
            disable ntp
            """);
        Daemon ntpd = downstream.Start(Sandbox.Out("ntpd"), "-n", "-c", config);

        CommandResult served = downstream.RunUntil(r => r.Stdout.Contains(" s4 ", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");

        Assert.True(served.Stdout.Contains(" s4 no-leap", StringComparison.Ordinal), served + ntpd.Output);
        Assert.Contains("pool pool.test: added 198.18.0.1", ntpd.Output, StringComparison.Ordinal);
        Assert.Contains("pool pool.test: added 198.18.0.9", ntpd.Output, StringComparison.Ordinal);
        Assert.Contains("new system peer 198.18.0.1, stratum 3", ntpd.Output, StringComparison.Ordinal);
    }
}
