namespace Meridian.Config.Tests;

/// <summary>The fleet's <c>nts</c> options: <c>ntpserver HOST[:PORT]</c> (RFC 8915 §4.1.7–§4.1.8) and <c>rotate SECONDS</c>.</summary>
public sealed class NtsFleetConfigTests
{
    [Theory]
    [InlineData("nts ntpserver 198.18.0.2", "198.18.0.2", null)]
    [InlineData("nts ntpserver 198.18.0.2:10123", "198.18.0.2", (ushort)10123)]
    [InlineData("nts ntpserver NTP1.Example.NET", "ntp1.example.net", null)]
    [InlineData("nts ntpserver ntp1.example.net.:123", "ntp1.example.net", (ushort)123)]
    [InlineData("nts ntpserver [2001:DB8:0::1]", "2001:db8::1", null)]
    [InlineData("nts ntpserver [2001:db8::1]:4123", "2001:db8::1", (ushort)4123)]
    [InlineData("nts ntpserver zeit.bücher.example", "zeit.xn--bcher-kva.example", null)]
    public void Ntpserver_is_read_as_NTS_KE_sends_it(string text, string host, ushort? port)
    {
        NtpConfiguration c = ConfigParser.Parse(text, "ntp.conf");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal((host, port), (c.Nts.NtpServer, c.Nts.NtpPort));
    }

    [Theory]
    [InlineData("nts ntpserver 198.18.0.2:0", "ntp.conf:1:26: error: the NTP port is 1 to 65535, not '0'")]
    [InlineData("nts ntpserver 198.18.0.2:65536", "ntp.conf:1:26: error: the NTP port is 1 to 65535, not '65536'")]
    [InlineData("nts ntpserver ntp.test:12x", "ntp.conf:1:24: error: the NTP port is 1 to 65535, not '12x'")]
    [InlineData("nts ntpserver [2001:db8::1]:", "ntp.conf:1:29: error: the NTP port is 1 to 65535, not ''")]
    [InlineData("nts ntpserver 198.18.0.300", "ntp.conf:1:15: error: '198.18.0.300' is not a host name or an IPv4 address")]
    [InlineData("nts ntpserver bad_host.example", "ntp.conf:1:15: error: 'bad_host.example' is not a host name or an IPv4 address")]
    [InlineData("nts ntpserver -ntp.example", "ntp.conf:1:15: error: '-ntp.example' is not a host name or an IPv4 address")]
    [InlineData("nts ntpserver 2001:db8::1", "ntp.conf:1:15: error: '2001:db8::1': an IPv6 address goes in brackets, as [2001:db8::1] or [2001:db8::1]:123")]
    [InlineData("nts ntpserver [2001:db8::1", "ntp.conf:1:15: error: '[2001:db8::1': an IPv6 address in brackets needs its ']'")]
    [InlineData("nts ntpserver [2001:db8::g]", "ntp.conf:1:16: error: '2001:db8::g' is not an IPv6 address")]
    [InlineData("nts ntpserver [fe80::1%eth0]", "ntp.conf:1:16: error: 'fe80::1%eth0' is not an IPv6 address that NTS-KE can send (no zone, RFC 8915 §4.1.7)")]
    [InlineData("nts ntpserver [2001:db8::1]x", "ntp.conf:1:28: error: expected ':PORT' after '[2001:db8::1]', not 'x'")]
    [InlineData("nts ntpserver", "ntp.conf:1:15: error: expected an NTP server, HOST or HOST:PORT ([IPv6]:PORT)")]
    [InlineData("nts cookie /k\nnts rotate -1", "ntp.conf:2:12: error: 'nts rotate' is 0 (never rotate: the keys come from the cookie file) or more seconds, not -1")]
    [InlineData("nts rotate daily", "ntp.conf:1:12: error: 'nts rotate' needs whole seconds (0: never rotate), not 'daily'")]
    [InlineData("nts rotate 0", "ntp.conf:1:5: error: 'nts rotate 0' uses the keys of 'nts cookie FILE' only, and there is no 'nts cookie' line")]
    [InlineData("nts rotat 0", "ntp.conf:1:5: error: unknown nts option 'rotat' (did you mean 'rotate'?)")]
    [InlineData("nts rotate 0 cookie /k cert /c.pem\nnts enable", "ntp.conf:2:5: error: 'nts enable' needs 'nts cert FILE' and 'nts key FILE' (missing: key)")]
    public void Mistakes_are_errors_at_their_column(string text, string expected) =>
        Assert.Equal(expected, Assert.Single(ConfigParser.Parse(text, "ntp.conf").Diagnostics, d => d.Severity == DiagnosticSeverity.Error).ToString());

    [Fact]
    public void Rotate_defaults_to_a_day_and_0_with_a_cookie_file_makes_an_NTP_only_follower()
    {
        Assert.Equal(86400, ConfigParser.Parse("", "ntp.conf").Nts.RotateSeconds);
        NtpConfiguration c = ConfigParser.Parse("nts cookie /var/lib/ntp/nts-keys\nnts rotate 0\nnts enable\n", "ntp.conf");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal((0, true), (c.Nts.RotateSeconds, c.Nts.ServesNtpOnly));
        // With a certificate it is a follower that serves NTS-KE too.
        NtpConfiguration both = ConfigParser.Parse("nts cert /c.pem key /k.pem cookie /keys rotate 0 enable\n", "ntp.conf");
        Assert.False(both.HasErrors, string.Join("\n", both.Diagnostics));
        Assert.False(both.Nts.ServesNtpOnly);
    }
}
