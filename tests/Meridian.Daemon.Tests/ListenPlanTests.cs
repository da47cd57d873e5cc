using System.Net;
using Meridian.Config;

namespace Meridian.Daemon.Tests;

/// <summary>Which addresses the daemon listens on, from interface rules and -I (ntpd's rules).</summary>
public sealed class ListenPlanTests
{
    private static readonly InterfaceAddress[] Host =
    [
        new("lo", IPAddress.Loopback, true),
        new("lo", IPAddress.IPv6Loopback, true),
        new("eth0", IPAddress.Parse("198.18.0.2"), false),
        new("eth1", IPAddress.Parse("198.19.0.2"), false),
        new("eth1", IPAddress.Parse("2001:db8::2"), false),
    ];

    private static List<string> Choose(string lines, DaemonOptions? options = null)
    {
        NtpConfiguration config = ConfigParser.Parse(lines, "ntp.conf");
        Assert.False(config.HasErrors, string.Join("\n", config.Diagnostics));
        return ListenPlan.Choose(config.InterfaceRules, options ?? new DaemonOptions(), Host, []).Select(a => a.ToString()).ToList();
    }

    [Fact]
    public void Without_rules_the_wildcards_are_listened_on() =>
        Assert.Equal(["0.0.0.0", "::"], Choose(""));

    [Fact]
    public void Interface_listen_eth0_alone_keeps_every_other_address_open_as_in_ntpd()
    {
        // Seed 000's client: its own ntpq and ntpstat reach it over loopback.
        Assert.Equal(["127.0.0.1", "::1", "198.18.0.2", "198.19.0.2", "2001:db8::2"], Choose("interface listen eth0\n"));
    }

    [Fact]
    public void The_last_matching_rule_decides()
    {
        Assert.Equal(["127.0.0.1", "::1", "198.18.0.2"], Choose("interface ignore all\ninterface listen eth0\n"));
        Assert.Equal(["127.0.0.1", "::1", "198.19.0.2", "2001:db8::2"], Choose("interface listen eth0\ninterface ignore eth0\n"));
        Assert.Equal(["::1", "198.18.0.2", "198.19.0.2"], Choose("nic ignore ipv6\ninterface listen ::1\ninterface drop 127.0.0.0/8\n"));
        Assert.Equal(["127.0.0.1", "::1", "0.0.0.0", "::"], Choose("interface ignore all\ninterface listen wildcard\n"));
    }

    [Fact]
    public void An_address_rule_for_an_address_no_interface_has_binds_it_as_written() =>
        Assert.Contains("127.0.0.2", Choose("interface ignore all\ninterface ignore lo\ninterface listen 127.0.0.2\n"));

    [Fact]
    public void Dash_I_limits_to_what_it_names()
    {
        Assert.Equal(["198.19.0.2", "2001:db8::2"], Choose("interface listen eth0\n", new DaemonOptions { ListenInterfaces = ["eth1"] }));
        Assert.Equal(["127.0.0.1"], Choose("", new DaemonOptions { ListenAddresses = [IPAddress.Loopback] }));
        Assert.Equal(["198.19.0.2"], Choose("", new DaemonOptions { ListenInterfaces = ["eth1"], UseIPv6 = false }));
    }

    [Fact]
    public void A_missing_interface_is_reported()
    {
        var problems = new List<string>();
        ListenPlan.Choose([], new DaemonOptions { ListenInterfaces = ["eth9"] }, Host, problems);
        Assert.Equal(["-I eth9: no such interface or no address; not listening on it"], problems);
    }
}
