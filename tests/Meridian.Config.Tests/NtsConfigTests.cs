namespace Meridian.Config.Tests;

/// <summary>NTPsec's <c>nts</c> line and the <c>nts</c> option of a server line: read into typed settings and checked.</summary>
public sealed class NtsConfigTests
{
    [Fact]
    public void The_lines_of_an_NTPsec_NTS_server_are_read_and_warned_about_as_not_in_effect()
    {
        NtpConfiguration c = ConfigParser.Parse("""
            nts cert /etc/letsencrypt/live/nts.example/fullchain.pem
            nts key /etc/letsencrypt/live/nts.example/privkey.pem
            nts enable mintls TLSv1.3 aead AES_128_GCM_SIV
            nts ca /etc/ssl/certs cookie /var/lib/ntpsec/nts-keys
            """, "ntp.conf");

        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal(
            new NtsConfig
            {
                Enabled = true, EnableFile = "ntp.conf", EnableLine = 3, EnableColumn = 5,
                Certificate = "/etc/letsencrypt/live/nts.example/fullchain.pem", Key = "/etc/letsencrypt/live/nts.example/privkey.pem",
                CertificateAuthorities = "/etc/ssl/certs", CookieKeys = "/var/lib/ntpsec/nts-keys", MinTls = "TLSv1.3", Aead = 30,
            },
            c.Nts);
        // The server's lines are in effect; only the TLS version (always 1.3) is not.
        ConfigDiagnostic tls = Assert.Single(c.NotInEffect);
        Assert.Equal("ntp.conf:3:12: warning: 'nts mintls' is read and checked but not in effect: NTS-KE always runs TLS 1.3 (RFC 8915 §3)", tls.ToString());
    }

    [Theory]
    [InlineData("nts enable", "ntp.conf:1:5: error: 'nts enable' needs 'nts cert FILE' and 'nts key FILE' (missing: cert and key)")]
    [InlineData("nts cert /c.pem\nnts enable", "ntp.conf:2:5: error: 'nts enable' needs 'nts cert FILE' and 'nts key FILE' (missing: key)")]
    [InlineData("nts mintls 1.2", "ntp.conf:1:12: error: NTS runs over TLS 1.3 or later only (RFC 8915 §3), not '1.2'")]
    [InlineData("nts aead AES_SIV_CMAC_512", "ntp.conf:1:10: error: unknown NTS AEAD 'AES_SIV_CMAC_512'; AES_SIV_CMAC_256 (15) and AES_128_GCM_SIV (30) are the AEADs NTS negotiates")]
    [InlineData("nts certs /c.pem", "ntp.conf:1:5: error: unknown nts option 'certs' (did you mean 'cert'?)")]
    [InlineData("nts key", "ntp.conf:1:9: error: expected a PEM private key file")]
    public void Mistakes_are_errors_at_their_column(string text, string expected) =>
        Assert.Equal(expected, Assert.Single(ConfigParser.Parse(text, "ntp.conf").Diagnostics, d => d.Severity == DiagnosticSeverity.Error).ToString());

    [Fact]
    public void A_server_line_with_nts_is_an_NTS_association()
    {
        NtpConfiguration c = ConfigParser.Parse("server time.example.net iburst nts\nserver 192.0.2.1\n", "ntp.conf");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal([true, false], c.Associations.Select(a => a.Nts));
        Assert.Empty(c.NotInEffect);
    }

    [Fact]
    public void Disable_after_enable_needs_no_certificate_and_the_numbers_name_the_AEADs_too()
    {
        NtpConfiguration c = ConfigParser.Parse("nts enable\nnts disable aead 15\n", "ntp.conf");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal((false, (ushort?)15), (c.Nts.Enabled, c.Nts.Aead));
    }

    [Fact]
    public void Nocerttimecheck_counts_clock_updates_and_warns_that_it_weakens_the_check()
    {
        NtpConfiguration c = ConfigParser.Parse("nts ca /ca.pem nocerttimecheck 3\n", "ntp.conf");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal(3, c.Nts.NoCertTimeCheck);
        ConfigDiagnostic warning = Assert.Single(c.Diagnostics);
        Assert.StartsWith("ntp.conf:1:16: warning: NTS-KE certificates are accepted outside their validity dates until the clock has been updated 3 time(s)", warning.ToString(), StringComparison.Ordinal);

        NtpConfiguration always = ConfigParser.Parse("nts nocerttimecheck 0\n", "ntp.conf");
        Assert.Empty(always.Diagnostics);
        Assert.Equal(0, always.Nts.NoCertTimeCheck);
        Assert.Equal(0, new NtsConfig().NoCertTimeCheck);
    }

    [Theory]
    [InlineData("nts nocerttimecheck", "ntp.conf:1:21: error: 'nocerttimecheck' needs a number from 0 to 2147483647")]
    [InlineData("nts nocerttimecheck -1", "ntp.conf:1:21: error: 'nocerttimecheck' is 0 to 2147483647, not -1")]
    [InlineData("nts  nocerttimecheck  many", "ntp.conf:1:23: error: 'nocerttimecheck' needs a number from 0 to 2147483647, not 'many'")]
    [InlineData("nts nocerttimecheck 1.5", "ntp.conf:1:21: error: 'nocerttimecheck' needs a number from 0 to 2147483647, not '1.5'")]
    [InlineData("nts nocerttimecheck 99999999999", "ntp.conf:1:21: error: 'nocerttimecheck' needs a number from 0 to 2147483647, not '99999999999'")]
    [InlineData("nts nocerttimechek 1", "ntp.conf:1:5: error: unknown nts option 'nocerttimechek' (did you mean 'nocerttimecheck'?)")]
    public void Bad_nocerttimecheck_values_are_errors_at_their_column(string text, string expected) =>
        Assert.Equal(expected, Assert.Single(ConfigParser.Parse(text, "ntp.conf").Diagnostics, d => d.Severity == DiagnosticSeverity.Error).ToString());

    [Fact]
    public void Noval_on_an_NTS_server_is_honoured_with_a_warning_that_it_is_insecure()
    {
        NtpConfiguration c = ConfigParser.Parse("server other.test iburst nts noval\n", "ntp.conf");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.True(Assert.Single(c.Associations).NoVal);
        Assert.Empty(c.NotInEffect);
        Assert.Equal(
            "ntp.conf:1:30: warning: noval: the NTS-KE server's certificate is not validated, any certificate for any name is accepted; this is insecure: anyone on the path can pose as the server",
            Assert.Single(c.Diagnostics).ToString());
    }

    [Fact]
    public void Noval_without_nts_is_ignored_with_a_warning()
    {
        NtpConfiguration c = ConfigParser.Parse("server 192.0.2.1 noval\n", "ntp.conf");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal("ntp.conf:1:18: warning: noval applies to NTS associations (with 'nts') only; ignored", Assert.Single(c.Diagnostics).ToString());
    }

    [Theory]
    [InlineData("server nts.example:4461 iburst nts", "nts.example", 4461)]
    [InlineData("server [2001:db8::1]:4461 nts", "2001:db8::1", 4461)]
    [InlineData("server [2001:db8::1] nts", "2001:db8::1", null)]
    [InlineData("server 2001:db8::1 nts", "2001:db8::1", null)]
    [InlineData("server nts.example nts", "nts.example", null)]
    public void An_nts_server_line_may_name_the_NTS_KE_port_as_NTPsec_does(string text, string host, int? port)
    {
        NtpConfiguration c = ConfigParser.Parse(text, "ntp.conf");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        AssociationConfig a = Assert.Single(c.Associations);
        Assert.Equal((host, port), (a.Address, a.NtsKePort));
    }

    [Fact]
    public void Ca_and_aead_on_an_nts_server_line_are_that_servers_own()
    {
        NtpConfiguration c = ConfigParser.Parse("server a.example nts ca /etc/a-ca.pem aead AES_128_GCM_SIV\nserver b.example nts\n", "ntp.conf");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal([("/etc/a-ca.pem", (ushort?)30), (null, null)], c.Associations.Select(a => (a.NtsCa, a.NtsAead)));
        Assert.Empty(c.NotInEffect);
    }

    [Theory]
    [InlineData("server nts.example:0 nts", "ntp.conf:1:8: error: '0' is not an NTS-KE port (1 to 65535) in 'nts.example:0'")]
    [InlineData("server nts.example:ke nts", "ntp.conf:1:8: error: 'ke' is not an NTS-KE port (1 to 65535) in 'nts.example:ke'")]
    [InlineData("server [2001:db8::1:4461 nts", "ntp.conf:1:8: error: '[2001:db8::1:4461': an IPv6 address in brackets needs its ']'")]
    [InlineData("server a.example nts aead AES_SIV_CMAC_512", "ntp.conf:1:27: error: unknown NTS AEAD 'AES_SIV_CMAC_512'; AES_SIV_CMAC_256 (15) and AES_128_GCM_SIV (30) are the AEADs NTS negotiates")]
    [InlineData("server a.example nts ca", "ntp.conf:1:25: error: expected a CA file or directory")]
    public void Mistakes_on_an_nts_server_line_are_errors_at_their_column(string text, string expected) =>
        Assert.Equal(expected, Assert.Single(ConfigParser.Parse(text, "ntp.conf").Diagnostics, d => d.Severity == DiagnosticSeverity.Error).ToString());

    [Fact]
    public void Ca_without_nts_is_ignored_with_a_warning()
    {
        NtpConfiguration c = ConfigParser.Parse("server 192.0.2.1 ca /etc/ca.pem\n", "ntp.conf");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal("ntp.conf:1:18: warning: ca applies to NTS associations (with 'nts') only; ignored", Assert.Single(c.Diagnostics).ToString());
    }

    [Fact]
    public void NTPsecs_ask_require_expire_and_cert_are_read_and_said_to_be_not_in_effect()
    {
        NtpConfiguration c = ConfigParser.Parse("server a.example nts ask ntp1.example require ntp2.example:123 expire 1d cert /c.pem iburst\n", "ntp.conf");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.True(Assert.Single(c.Associations).Iburst);
        Assert.Equal(["ask", "require", "expire", "cert"], c.NotInEffect.Select(d => d.ToString().Split('\'')[1]));
        Assert.Equal("ntp.conf:1:22: warning: 'ask' is read and checked but not in effect: NTS-KE is not asked for a particular NTP server (RFC 8915 §4.1.7 in the request); the server's choice is used", c.NotInEffect.First().ToString());
    }

    [Theory]
    [InlineData("nts cookie /var/lib/ntp/nts-keys", "ntp.conf:1:5: warning: 'nts cookie' is read and checked but not in effect: it configures the NTS server, which runs only with 'nts enable'")]
    [InlineData("nts ca /etc/ssl/certs rotate 3600 ntpserver 192.0.2.1", "ntp.conf:1:23: warning: 'nts rotate' is read and checked but not in effect: it configures the NTS server, which runs only with 'nts enable'")]
    [InlineData("nts cert /c.pem\nnts key /k.pem\nnts enable\nnts disable", "ntp.conf:1:5: warning: 'nts cert' is read and checked but not in effect: it configures the NTS server, which runs only with 'nts enable'")]
    public void The_NTS_servers_options_without_nts_enable_are_said_to_be_not_in_effect(string text, string expected)
    {
        NtpConfiguration c = ConfigParser.Parse(text, "ntp.conf");
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.Equal(expected, Assert.Single(c.NotInEffect).ToString());
    }

    [Fact]
    public void The_NTS_servers_options_with_nts_enable_draw_no_warning()
    {
        NtpConfiguration c = ConfigParser.Parse("nts cert /c.pem key /k.pem cookie /n rotate 3600 ntpserver 192.0.2.1\nnts enable\n", "ntp.conf");
        Assert.Empty(c.Diagnostics);
    }
}
